namespace CbuffTcp.Connections;

/// <summary>
/// Packs a message into this thread's <see cref="PackBuffer"/> and hands the bytes on. A throwing <c>Pack</c> is
/// reported through the handler's <c>OnError</c> and becomes <see cref="SendResult.PackFailed"/>, never an exception
/// on the sender's hot path.
/// </summary>
internal sealed class MessagePacker<TMessage>(IProtocol<TMessage> protocol, ITcpHandler<TMessage> handler)
{
    public SendResult Pack<TState>(in TMessage message, TState state, Func<TState, ReadOnlySpan<byte>, SendResult> enqueue)
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

            return enqueue(state, buffer.WrittenSpan);
        }
        finally
        {
            PackBuffer.Return(buffer);
        }
    }

    private void ReportPackError(Exception ex)
    {
        try
        {
            handler.OnError($"{protocol.GetType().Name}.Pack threw {ex.GetType().Name}: {ex.Message}", ex);
        }
        catch (Exception)
        {
            // The error handler failed too; the caller still learns of the failure through PackFailed.
        }
    }
}
