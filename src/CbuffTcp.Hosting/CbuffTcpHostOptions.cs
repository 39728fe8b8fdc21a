using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace CbuffTcp.Hosting;

/// <summary>
/// Where a hosted CbuffTcp server listens, and its <see cref="TcpServerOptions"/>: bound from the <c>CbuffTcp</c>
/// configuration section by default and validated when the host starts.
/// </summary>
/// <example>
/// <code>
/// "CbuffTcp": {
///   "Host": "0.0.0.0",
///   "Port": 9000,
///   "Server": { "MaxConnections": 5000, "IdleTimeout": "00:05:00" }
/// }
/// </code>
/// </example>
public sealed class CbuffTcpHostOptions
{
    /// <summary>The address to listen on: an IP address, or a host name resolved at start. Defaults to 127.0.0.1.</summary>
    [Required]
    public string Host { get; set; } = "127.0.0.1";

    /// <summary>The port to listen on; defaults to 9000. 0 picks a free one (read it from <see cref="TcpServer{TMessage}.LocalEndPoint"/>).</summary>
    [Range(0, 65535)]
    public int Port { get; set; } = 9000;

    /// <summary>The server's limits and behaviour. Logging and metrics come from the host unless set here.</summary>
    [ValidateObjectMembers]
    public TcpServerOptions Server { get; set; } = new();
}
