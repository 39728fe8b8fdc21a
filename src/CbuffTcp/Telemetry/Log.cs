using System.Net;
using Microsoft.Extensions.Logging;

namespace CbuffTcp.Telemetry;

/// <summary>
/// Every log event CbuffTcp writes, source-generated. Event ids are stable (documented in docs/telemetry.md): 1–9 the
/// server's lifecycle, 10–19 connections, 20–29 errors in or around user code, 30–39 the client, 40–49 the listener.
/// </summary>
internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Information, "CbuffTcp server listening on {EndPoint}, serving up to {ConnectionLimit} connections on {IoMode}")]
    public static partial void ServerStarted(ILogger logger, EndPoint endPoint, int connectionLimit, IoMode ioMode);

    [LoggerMessage(2, LogLevel.Information, "CbuffTcp server on {EndPoint} stopping: closing {ClientCount} clients")]
    public static partial void ServerStopping(ILogger logger, EndPoint? endPoint, int clientCount);

    [LoggerMessage(3, LogLevel.Information, "CbuffTcp server on {EndPoint} stopped")]
    public static partial void ServerStopped(ILogger logger, EndPoint? endPoint);

    [LoggerMessage(4, LogLevel.Warning, "MaxConnections is {MaxConnections}, but the descriptor limit (ulimit -n {DescriptorLimit}, {OpenDescriptors} open) leaves room for {ConnectionCeiling}: serving at most that many connections. Raise ulimit -n to serve more.")]
    public static partial void ConnectionLimitLowered(ILogger logger, int maxConnections, long descriptorLimit, int openDescriptors, int connectionCeiling);

    [LoggerMessage(5, LogLevel.Warning, "Limit {Limit} of {LimitValue} reached for {Scope}: refusing new connections until clients leave (further refusals are counted, not logged, until one is admitted)")]
    public static partial void ConnectionsRejected(ILogger logger, string limit, int limitValue, string scope);

    [LoggerMessage(6, LogLevel.Error, "Accepting a connection failed: {Error} (retrying with backoff)")]
    public static partial void AcceptFailed(ILogger logger, string error, Exception exception);

    [LoggerMessage(7, LogLevel.Warning, "TLS handshake with {RemoteEndPoint} failed: {Error} (further failures are counted in TlsHandshakeFailures until one succeeds)")]
    public static partial void TlsHandshakeFailed(ILogger logger, EndPoint? remoteEndPoint, string error, Exception exception);

    [LoggerMessage(8, LogLevel.Error, "Stopped with {ClientCount} connections still inside handler callbacks that did not return")]
    public static partial void StopIncomplete(ILogger logger, int clientCount);

    [LoggerMessage(9, LogLevel.Error, "Connection {ClientId} failed unexpectedly: {Error}")]
    public static partial void ConnectionFailed(ILogger logger, long clientId, string error, Exception exception);

    [LoggerMessage(10, LogLevel.Debug, "Client {ClientId} connected from {RemoteEndPoint}")]
    public static partial void ClientConnected(ILogger logger, long clientId, EndPoint? remoteEndPoint);

    [LoggerMessage(11, LogLevel.Debug, "Client {ClientId} ({RemoteEndPoint}) disconnected: {Reason} {Detail}")]
    public static partial void ClientDisconnected(ILogger logger, long clientId, EndPoint? remoteEndPoint, DisconnectReason reason, string detail);

    [LoggerMessage(12, LogLevel.Debug, "Connection from {RemoteEndPoint} refused: {Reason}")]
    public static partial void ConnectionRefused(ILogger logger, EndPoint? remoteEndPoint, string reason);

    [LoggerMessage(20, LogLevel.Warning, "Client {ClientId} ({RemoteEndPoint}): {Message}")]
    public static partial void ClientError(ILogger logger, long clientId, EndPoint? remoteEndPoint, string message, Exception? exception);

    [LoggerMessage(21, LogLevel.Error, "The handler's OnConnectionError threw while reporting an error of client {ClientId}")]
    public static partial void ClientErrorHandlerFailed(ILogger logger, long clientId, Exception exception);

    [LoggerMessage(22, LogLevel.Error, "The handler's OnError threw while reporting: {Message}")]
    public static partial void ErrorHandlerFailed(ILogger logger, string message, Exception exception);

    [LoggerMessage(23, LogLevel.Warning, "{Protocol}.Pack threw {ExceptionType}: {Error} (the send returned PackFailed)")]
    public static partial void PackFailed(ILogger logger, string protocol, string exceptionType, string error, Exception exception);

    [LoggerMessage(40, LogLevel.Warning, "Could not remove the socket file {SocketPath}: {Error}")]
    public static partial void SocketFileNotRemoved(ILogger logger, string socketPath, string error, Exception exception);

    [LoggerMessage(41, LogLevel.Error, "Admitting a connection from {RemoteEndPoint} failed: {Error} (it was reset; accepting goes on)")]
    public static partial void AdmitFailed(ILogger logger, EndPoint? remoteEndPoint, string error, Exception exception);

    [LoggerMessage(42, LogLevel.Warning, "IoMode.IoThreads is not available here ({Reason}): connections use the thread pool")]
    public static partial void IoThreadsUnavailable(ILogger logger, string reason, Exception? exception);

    [LoggerMessage(43, LogLevel.Error, "An I/O thread caught an exception that escaped a socket's wake-up: {Error}")]
    public static partial void IoThreadError(ILogger logger, string error, Exception exception);

    [LoggerMessage(30, LogLevel.Information, "Connected to {RemoteEndPoint} as client {ClientId}")]
    public static partial void ConnectorConnected(ILogger logger, EndPoint? remoteEndPoint, long clientId);

    [LoggerMessage(31, LogLevel.Information, "Reconnecting: attempt {Attempt} in {DelayMilliseconds} ms{LastError}")]
    private static partial void ConnectorReconnectingCore(ILogger logger, int attempt, long delayMilliseconds, string lastError);

    public static void ConnectorReconnecting(ILogger logger, int attempt, long delayMilliseconds, string lastError) =>
        ConnectorReconnectingCore(logger, attempt, delayMilliseconds, lastError.Length == 0 ? string.Empty : $" (the last failed: {lastError})");

    [LoggerMessage(32, LogLevel.Information, "Reconnected to {RemoteEndPoint} as client {ClientId} after {Attempts} attempts")]
    public static partial void ConnectorReconnected(ILogger logger, EndPoint? remoteEndPoint, long clientId, int attempts);

    [LoggerMessage(33, LogLevel.Warning, "Gave up reconnecting after {Attempts} attempts, dropping {DroppedMessages} messages of the outbox; the last failed: {LastError}")]
    public static partial void ConnectorGaveUp(ILogger logger, int attempts, int droppedMessages, string lastError);

    [LoggerMessage(34, LogLevel.Error, "The handler's {Callback} threw: {Error}")]
    public static partial void ReconnectCallbackFailed(ILogger logger, string callback, string error, Exception exception);

    [LoggerMessage(46, LogLevel.Warning, "Shedding at the door: {Connections} connections reached the high-water mark of {HighWater}; accepting is paused until {LowWater}")]
    public static partial void AcceptPaused(ILogger logger, int connections, int highWater, int lowWater);

    [LoggerMessage(47, LogLevel.Information, "Accepting again: {Connections} connections, at or under the low-water mark of {LowWater}")]
    public static partial void AcceptResumed(ILogger logger, int connections, int lowWater);

    [LoggerMessage(49, LogLevel.Warning, "Shedding at the door: {Used} bytes of the memory budget in use reached the high-water mark of {HighWater}; accepting is paused until {LowWater}")]
    public static partial void AcceptPausedForMemory(ILogger logger, long used, long highWater, long lowWater);

    [LoggerMessage(53, LogLevel.Information, "Accepting again: {Used} bytes of the memory budget in use, at or under the low-water mark of {LowWater}")]
    public static partial void AcceptResumedForMemory(ILogger logger, long used, long lowWater);

    [LoggerMessage(48, LogLevel.Warning, "The memory budget of {Limit} bytes is reached ({Used} in use, {Wanted} more wanted): sends that need more memory are refused (QueueFull) until some frees; further refusals are counted, not logged, until use falls under half the limit")]
    public static partial void MemoryBudgetReached(ILogger logger, long limit, long used, long wanted);

    [LoggerMessage(45, LogLevel.Warning, "Refused a connection from {RemoteEndPoint}: {Reason} (PROXY protocol; further refusals are logged at Debug until a header is accepted)")]
    public static partial void ProxyHeaderRefused(ILogger logger, EndPoint? remoteEndPoint, string reason);

    [LoggerMessage(44, LogLevel.Warning, "{Thread} has been inside client {ClientId} ({RemoteEndPoint})'s {Callback} for {StuckMilliseconds} ms: a callback on the I/O threads blocks every connection of its thread")]
    public static partial void IoThreadBlocked(ILogger logger, string thread, long clientId, EndPoint? remoteEndPoint, string callback, long stuckMilliseconds);

    [LoggerMessage(50, LogLevel.Information, "Backplane connected: this is node {NodeId} ({Detail})")]
    public static partial void BackplaneConnected(ILogger logger, long nodeId, string detail);

    [LoggerMessage(51, LogLevel.Warning, "Backplane unavailable ({Detail}): local clients are served, sends to other nodes return BackplaneUnavailable")]
    public static partial void BackplaneUnavailable(ILogger logger, string detail, Exception? exception);

    [LoggerMessage(52, LogLevel.Warning, "The backplane brought {What}: dropped (further ones are counted in cbufftcp.backplane.refused)")]
    public static partial void EnvelopeRefused(ILogger logger, string what, Exception? exception);
}
