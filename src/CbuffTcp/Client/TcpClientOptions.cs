namespace CbuffTcp;

/// <summary>Settings of a <see cref="TcpClientConnection{TMessage}"/>.</summary>
public sealed class TcpClientOptions : TcpConnectionOptions
{
    /// <summary>How long <c>ConnectAsync</c> may take before it fails with a <see cref="TimeoutException"/>. Defaults to 10 seconds.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    internal override void Validate()
    {
        base.Validate();
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ConnectTimeout, TimeSpan.Zero, nameof(ConnectTimeout));
    }
}
