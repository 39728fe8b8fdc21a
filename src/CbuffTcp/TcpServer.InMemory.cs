using System.Net;
using CbuffTcp.Connections;

namespace CbuffTcp;

/// <summary>
/// Serving without a listener: the in-memory transport of CbuffTcp.Testing hands its connections straight to the
/// server, which runs them as it runs accepted sockets (the same limits, loops, timeouts, metrics and stop).
/// </summary>
public sealed partial class TcpServer<TMessage>
{
    /// <summary>Starts as <see cref="StartAsync(EndPoint, CancellationToken)"/> does, but listens nowhere; <paramref name="localEndPoint"/> only names it.</summary>
    internal Task StartWithoutListenerAsync(EndPoint localEndPoint)
    {
        ArgumentNullException.ThrowIfNull(localEndPoint);
        return Start(localEndPoint, listen: false);
    }

    /// <summary>
    /// Admits a connection the way the accept loop admits a socket: past the connection limits it is refused
    /// (counted, reported, its transport aborted) and null is returned; otherwise it is registered and runs.
    /// </summary>
    internal TcpConnection<TMessage>? AdmitTransport(ConnectionTransport transport)
    {
        ConnectionSettings settings;
        lock (_lifecycleLock)
        {
            // Counted under the lock, while Running: the stop cannot have found every connection done before this one.
            if (_status != ServerStatus.Running || _settings is null)
            {
                transport.Abort();
                transport.Dispose();
                return null;
            }

            settings = _settings;
            Interlocked.Increment(ref _connectionTaskCount);
        }

        if (!WithinLimits(transport.RemoteEndPoint, out _))
        {
            transport.Abort();
            transport.Dispose();
            ConnectionTaskEnded();
            return null;
        }

        var connection = Register(transport, settings);
        if (Volatile.Read(ref _stopping) != 0)
        {
            connection.BeginClose(DisconnectReason.ServerStopping, "server stopping"); // as for a late TLS handshake
        }

        ThreadPool.UnsafeQueueUserWorkItem(static connection => _ = connection.RunAsync(), connection, preferLocal: false);
        return connection;
    }

    /// <summary>Stands in for the accept loop of a server that listens nowhere: holds its count until the stop.</summary>
    private async Task AwaitStopAsync(CancellationToken stopping)
    {
        try
        {
            await Task.Delay(Timeout.Infinite, stopping).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        finally
        {
            ConnectionTaskEnded();
        }
    }
}
