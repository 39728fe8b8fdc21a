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

    [LoggerMessage(4, LogLevel.Warning, "{Message}")]
    public static partial void ConnectionLimitLowered(ILogger logger, string message, Exception? exception);

    [LoggerMessage(5, LogLevel.Warning, "{Message}")]
    public static partial void ConnectionsRejected(ILogger logger, string message, Exception? exception);

    [LoggerMessage(6, LogLevel.Error, "{Message}")]
    public static partial void AcceptFailed(ILogger logger, string message, Exception? exception);

    [LoggerMessage(7, LogLevel.Warning, "{Message}")]
    public static partial void TlsHandshakeFailed(ILogger logger, string message, Exception? exception);

    [LoggerMessage(8, LogLevel.Error, "{Message}")]
    public static partial void StopIncomplete(ILogger logger, string message, Exception? exception);

    [LoggerMessage(9, LogLevel.Error, "{Message}")]
    public static partial void ConnectionFailed(ILogger logger, string message, Exception? exception);

    [LoggerMessage(10, LogLevel.Debug, "Client {ClientId} connected from {RemoteEndPoint}")]
    public static partial void ClientConnected(ILogger logger, long clientId, EndPoint? remoteEndPoint);

    [LoggerMessage(11, LogLevel.Debug, "Client {ClientId} ({RemoteEndPoint}) disconnected: {Reason} {Detail}")]
    public static partial void ClientDisconnected(ILogger logger, long clientId, EndPoint? remoteEndPoint, DisconnectReason reason, string detail);

    [LoggerMessage(12, LogLevel.Debug, "Connection from {RemoteEndPoint} refused: {Reason}")]
    public static partial void ConnectionRefused(ILogger logger, EndPoint? remoteEndPoint, string reason);

    [LoggerMessage(20, LogLevel.Warning, "Client {ClientId} ({RemoteEndPoint}): {Message}")]
    public static partial void ClientError(ILogger logger, long clientId, EndPoint? remoteEndPoint, string message, Exception? exception);

    [LoggerMessage(21, LogLevel.Error, "The handler's OnClientError threw while reporting an error of client {ClientId}")]
    public static partial void ClientErrorHandlerFailed(ILogger logger, long clientId, Exception exception);

    [LoggerMessage(22, LogLevel.Error, "The handler's OnError threw while reporting: {Message}")]
    public static partial void ErrorHandlerFailed(ILogger logger, string message, Exception exception);

    [LoggerMessage(23, LogLevel.Warning, "{Message} (the send returned PackFailed)")]
    public static partial void PackFailed(ILogger logger, string message, Exception exception);

    [LoggerMessage(40, LogLevel.Warning, "{Message}")]
    public static partial void SocketFileNotRemoved(ILogger logger, string message, Exception? exception);

    [LoggerMessage(41, LogLevel.Error, "{Message}")]
    public static partial void AdmitFailed(ILogger logger, string message, Exception? exception);

    [LoggerMessage(42, LogLevel.Warning, "{Message}")]
    public static partial void IoThreadsUnavailable(ILogger logger, string message, Exception? exception);

    [LoggerMessage(43, LogLevel.Error, "{Message}")]
    public static partial void IoThreadError(ILogger logger, string message, Exception? exception);

    [LoggerMessage(30, LogLevel.Information, "Connected to {RemoteEndPoint} as client {ClientId}")]
    public static partial void ConnectorConnected(ILogger logger, EndPoint? remoteEndPoint, long clientId);
}
