using CbuffTcp.Telemetry;
using Microsoft.Extensions.Logging;

namespace CbuffTcp.Connections;

/// <summary>Takes a packed message: <paramref name="state"/> by reference, so a struct's counts reach the caller with no allocation.</summary>
internal delegate SendResult PackedMessageHandler<TState>(ref TState state, PackBuffer packed);

/// <summary>
/// Packs a message into this thread's <see cref="PackBuffer"/> and hands the bytes on. A throwing <c>Pack</c> is
/// logged, reported through the handler's <c>OnError</c> and becomes <see cref="SendResult.PackFailed"/>, never an exception
/// on the sender's hot path.
/// </summary>
internal sealed class MessagePacker<TMessage>(IProtocol<TMessage> protocol, ITcpHandler<TMessage> handler, ILogger logger)
{
    /// <summary>Packs, then calls <paramref name="enqueue"/> with the packed bytes (which it may copy or, once, <see cref="PackBuffer.Detach"/>).</summary>
    public SendResult Pack<TState>(in TMessage message, ref TState state, PackedMessageHandler<TState> enqueue)
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

            return enqueue(ref state, buffer);
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
