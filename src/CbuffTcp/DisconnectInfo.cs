namespace CbuffTcp;

/// <summary>Why a connection ended, as passed to <see cref="ITcpHandler{TMessage}.OnDisconnectedAsync"/>.</summary>
/// <param name="Reason">The classified reason.</param>
/// <param name="Detail">
/// Human-readable detail: the text given to <c>CloseClient</c>, the protocol's error message, or the socket error. Never null.
/// </param>
public readonly record struct DisconnectInfo(DisconnectReason Reason, string Detail)
{
    /// <summary>True for endings that are part of normal operation (peer closed, local close, server stop).</summary>
    public bool IsNormal => Reason is DisconnectReason.RemoteClosed or DisconnectReason.ClosedLocally or DisconnectReason.ServerStopping;

    /// <inheritdoc />
    public override string ToString() => Detail.Length == 0 ? Reason.ToString() : $"{Reason}: {Detail}";
}
