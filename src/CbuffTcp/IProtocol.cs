using System.Buffers;

namespace CbuffTcp;

/// <summary>
/// How bytes become messages and messages become bytes (the seed's <c>ProtocolIF</c>). One instance serves every
/// connection at once, so implementations keep no per-connection state and must be thread-safe.
/// </summary>
/// <typeparam name="TMessage">The message type.</typeparam>
/// <remarks>
/// Errors: throw <see cref="ProtocolException"/> (or <see cref="FrameTooLargeException"/>) for bad input. That client
/// is closed with a clear reason; there is no resynchronising on a corrupt stream. Any other exception is treated
/// as a bug in user code and closes the client with <see cref="DisconnectReason.HandlerError"/>.
/// </remarks>
public interface IProtocol<TMessage>
{
    /// <summary>
    /// Decodes one message from the front of <paramref name="buffer"/>. On success, advances
    /// <paramref name="buffer"/> past the bytes the message used and returns <see langword="true"/>.
    /// When the buffer holds only part of a message, returns <see langword="false"/> and leaves
    /// <paramref name="buffer"/> as it was: the framework waits for more bytes (this is not an error).
    /// </summary>
    /// <param name="buffer">The received bytes not yet consumed.</param>
    /// <param name="message">The decoded message. It may refer to <paramref name="buffer"/>'s memory (see <see cref="MessagesReferenceInput"/>).</param>
    /// <exception cref="ProtocolException">The bytes can never form a valid message.</exception>
    bool TryDepack(ref ReadOnlySequence<byte> buffer, out TMessage message);

    /// <summary>Encodes <paramref name="message"/> (with its framing) into <paramref name="output"/>.</summary>
    /// <param name="message">The message to encode.</param>
    /// <param name="output">Where the encoded bytes go.</param>
    void Pack(in TMessage message, IBufferWriter<byte> output);

    /// <summary>
    /// <see langword="true"/> when decoded messages are views into the receive buffer (the built-in protocols), so the
    /// framework copies a batch's bytes before handing it to another thread (<c>AsyncReceive</c>).
    /// <see langword="false"/> when every decoded message owns its data. Defaults to <see langword="true"/>, the safe choice.
    /// </summary>
    bool MessagesReferenceInput => true;

    /// <summary>
    /// The largest frame, in bytes: the one frame limit of a connection that speaks this protocol. The connection
    /// buffers at most this (plus a read) while waiting for a message to complete, and input that grows past it
    /// without forming one closes the client with <see cref="DisconnectReason.FrameTooLarge"/>; it also sets when
    /// reading pauses under backpressure. The built-in protocols take it as <c>maxFrameSize</c> and fail a length
    /// header past it as soon as the header arrives. From 1 byte to 1 GiB; defaults to 1 MiB.
    /// </summary>
    int MaxFrameSize => Protocols.ProtocolDefaults.MaxFrameSize;
}
