using CbuffTcp.Telemetry;
using Microsoft.Extensions.Logging;

namespace CbuffTcp.Connections;

/// <summary>
/// Packs a message into this thread's <see cref="PackBuffer"/> and hands the bytes on. A throwing <c>Pack</c> is
/// logged, reported through the handler's <c>OnError</c> and becomes <see cref="SendResult.PackFailed"/>, never an exception
/// on the sender's hot path.
/// </summary>
internal sealed class MessagePacker<TMessage>(IProtocol<TMessage> protocol, ITcpHandler<TMessage> handler, ILogger logger)
{
    /// <summary>Packs, then calls <paramref name="enqueue"/> with the packed bytes (which it may copy or, once, <see cref="PackBuffer.Detach"/>).</summary>
    public SendResult Pack<TState>(in TMessage message, TState state, Func<TState, PackBuffer, SendResult> enqueue)
    {
        var buffer = PackBuffer.Rent();
        try
        {
            try
            {
                protocol.Pack(message, buffer);
            }
            catch (Exception ex)
            {
                ReportPackError(ex);
                return SendResult.PackFailed;
            }

            return enqueue(state, buffer);
        }
        finally
        {
            PackBuffer.Return(buffer);
        }
    }

    private void ReportPackError(Exception ex)
    {
        var message = $"{protocol.GetType().Name}.Pack threw {ex.GetType().Name}: {ex.Message}";
        Log.PackFailed(logger, message, ex);
        try
        {
            handler.OnError(message, ex);
        }
        catch (Exception handlerError)
        {
            // The caller still learns of the failure through PackFailed; the log has the error handler's failure.
            Log.ErrorHandlerFailed(logger, message, handlerError);
        }
    }
}
