namespace CbuffTcp;

/// <summary>The received bytes cannot form a valid message. The connection that sent them is closed.</summary>
public class ProtocolException : Exception
{
    /// <summary>Creates a protocol error with a message that says what was wrong with the input.</summary>
    public ProtocolException(string message)
        : base(message)
    {
    }

    /// <summary>Creates a protocol error with a message and the error that caused it.</summary>
    public ProtocolException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates a protocol error with a generic message.</summary>
    public ProtocolException()
        : base("The received data is not valid for this protocol.")
    {
    }

    internal virtual DisconnectReason Reason => DisconnectReason.ProtocolError;
}

/// <summary>A frame declared (or grew to) a size past the configured maximum. Nothing of that size was allocated.</summary>
public sealed class FrameTooLargeException : ProtocolException
{
    /// <summary>Creates the error for a frame of <paramref name="frameSize"/> bytes against a limit of <paramref name="maxFrameSize"/>.</summary>
    public FrameTooLargeException(long frameSize, long maxFrameSize)
        : base($"Frame of {frameSize} bytes exceeds the maximum frame size of {maxFrameSize} bytes.")
    {
        FrameSize = frameSize;
        MaxFrameSize = maxFrameSize;
    }

    /// <summary>Creates the error with a message of your own.</summary>
    public FrameTooLargeException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the error with a message and the error that caused it.</summary>
    public FrameTooLargeException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the error with a generic message.</summary>
    public FrameTooLargeException()
        : base("Frame exceeds the maximum frame size.")
    {
    }

    /// <summary>The size the frame declared, or the bytes seen so far without a complete frame.</summary>
    public long FrameSize { get; }

    /// <summary>The limit it exceeded.</summary>
    public long MaxFrameSize { get; }

    internal override DisconnectReason Reason => DisconnectReason.FrameTooLarge;
}
