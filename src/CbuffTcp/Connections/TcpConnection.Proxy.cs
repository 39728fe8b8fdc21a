using System.Net;
using CbuffTcp.Connections;

namespace CbuffTcp;

public sealed partial class TcpConnection<TMessage>
{
    private string? _remoteAddress;

    /// <summary>
    /// Reads the PROXY header, if any, before anything else sees the connection, within the header timeout. True when
    /// the connection may go on (with its client's address, or as itself); false when it was refused (reported by the
    /// server) or ended first.
    /// </summary>
    private async ValueTask<bool> ReadProxyHeaderAsync(ProxyProtocolOptions proxy)
    {
        var trusted = RemoteEndPoint is IPEndPoint { Address: var peer } && proxy.Trusts(peer);
        if (!trusted && proxy.Required)
        {
            return RefuseProxy($"a PROXY protocol header is required, and {RemoteEndPoint} is not a trusted proxy");
        }

        var input = new ReceiveBuffer(_settings.BufferPool, ProxyHeaderParser.MaxV2Length + ConnectionSettings.MaxReadSize, _settings.Budget);
        using var deadline = _settings.TimeProvider.CreateTimer(
            static c => ((TcpConnection<TMessage>)c!).Abort(DisconnectReason.ProtocolError, "no complete PROXY protocol header in time"), this, proxy.HeaderTimeout, Timeout.InfiniteTimeSpan);
        try
        {
            while (true)
            {
                await _transport.WaitForDataAsync().ConfigureAwait(false);
                var memory = input.GetReadMemory(ConnectionSettings.MinReadSize); // within the budget's free floor: never empty
                var receiving = _transport.ReceiveAsync(memory);
                var received = receiving.IsCompletedSuccessfully ? receiving.Result : await receiving.ConfigureAwait(false);
                if (received == ConnectionTransport.NothingYet)
                {
                    continue;
                }

                if (received == 0 || IsClosing)
                {
                    input.Release();
                    return RefuseProxy(IsClosing ? $"no complete PROXY protocol header within {proxy.HeaderTimeout.TotalSeconds:0.###} s" : "closed before its PROXY protocol header was complete");
                }

                input.Advance(received);
                switch (ProxyHeaderParser.TryParse(input.Data.FirstSpan, out var header, out var length, out var error))
                {
                    case ProxyParse.Incomplete:
                        continue;
                    case ProxyParse.None when proxy.Required:
                        input.Release();
                        return RefuseProxy("no PROXY protocol header, and one is required");
                    case ProxyParse.None:
                        Rare.FirstInput = input; // a peer connecting directly: its bytes are its first data
                        return true;
                    case ProxyParse.Invalid:
                        input.Release();
                        return RefuseProxy(error!);
                    case ProxyParse.Header when !trusted:
                        input.Release();
                        return RefuseProxy($"a PROXY protocol header from {RemoteEndPoint}, which is not a trusted proxy");
                    default:
                        input.Consume(length);
                        Rare.FirstInput = input;
                        Rare.ProxyHeader = header;
                        return header!.SourceEndPoint is not { } client || _owner is not { } owner || owner.MoveToClientAddress(this, client)
                            || RefuseProxy(null);
                }
            }
        }
        catch (Exception ex) when (IsClosing || IsTransportError(ex))
        {
            input.Release();
            if (_rare is not null)
            {
                _rare.FirstInput = null; // the same array, released just now
            }

            return RefuseProxy(IsClosing ? $"no complete PROXY protocol header within {proxy.HeaderTimeout.TotalSeconds:0.###} s" : $"failed before its PROXY protocol header: {ex.Message}");
        }
    }

    /// <summary>For the server, once its per-IP slot moved: the connection is its client's from now on.</summary>
    internal void UseClientEndPoint(EndPoint client)
    {
        Rare.ClientEndPoint = client;
        _remoteAddress = null;
    }

    /// <summary>Reports the refusal (unless already counted, <paramref name="reason"/> null) and closes: false, for the caller to return.</summary>
    private bool RefuseProxy(string? reason)
    {
        if (_rare is { FirstInput: { } first })
        {
            first.Release();
            _rare.FirstInput = null;
        }

        if (reason is not null)
        {
            _owner?.ProxyHeaderRefused(this, reason);
        }

        BeginClose(DisconnectReason.ProtocolError, reason ?? "the client's address is at its connection limit");
        return false;
    }
}
