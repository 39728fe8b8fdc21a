namespace CbuffTcp.Cli;

internal static class Usage
{
    public const string Text = """
        usage: cbuff serve [options]

        Runs a demo server.
          --host ADDRESS            address to listen on (default 0.0.0.0; use :: for IPv6 dual mode)
          --port N                  TCP port, 0 picks a free one (default 9000)
          --protocol line|length    line: UTF-8 text ending in \n (\r\n accepted)
                                    length: 4-byte big-endian payload length, then the payload (default line)
          --mode chat|echo|broadcast
                                    chat: a chat room for nc/telnet (default with line; needs line)
                                    echo: every message goes back to its sender (default with length)
                                    broadcast: every message goes to every client, sender included
          --max-frame BYTES         largest message accepted (default 1048576)
          --send-queue-limit BYTES  most bytes queued per client before sends are refused (default 4194304)
          --max-connections N       most clients at once (default 10000)
          --max-connections-per-ip N
                                    most clients at once from one IP address (default 10000)
          --idle-timeout SECONDS    close a client that sent nothing for this long; 0 = never (default 600)
          --frame-timeout SECONDS   close a client whose started frame is incomplete this long; 0 = never (default 30)
          --tls-cert FILE           speak TLS with this certificate and key: PKCS#12 (.pfx/.p12) or PEM (both in one file)
          --tls-password PASSWORD   the password of the PKCS#12 file or encrypted PEM key

        usage: cbuff bench [options]

        Load-tests a server that echoes (or broadcasts) the length or line wire format of cbuff serve, checks every
        byte that comes back, and reports messages/s, MB/s and latency percentiles.
          --host ADDRESS            server address (default 127.0.0.1)
          --port N                  server port (default 9000)
          --protocol length|line    wire format (default length)
          --mode echo|broadcast     echo: each message comes back to its sender (default)
                                    broadcast: each message reaches every client; every client counts them
                                    idle: connect and hold the connections, sending nothing, for --seconds
          --connections N           connections (default 1)
          --senders N               connections that send, in broadcast (default: all)
          --size BYTES              payload bytes per message (default 32)
          --depth N                 messages in flight per sender, closed loop (default 1)
          --rate N                  open loop instead: N messages/s in all, timed from when each was due
          --seconds S               measured time (default 10)
          --warmup S                unmeasured time first (default 2)
          --json FILE               also write the figures as JSON
          --plot FILE.png|.svg     also draw latency by percentile and throughput over time
        """;

    public static int Print(TextWriter writer, int exitCode)
    {
        writer.WriteLine(Text);
        return exitCode;
    }

    public static int Fail(string message)
    {
        Console.Error.WriteLine($"cbuff: {message}");
        Console.Error.WriteLine("run 'cbuff --help' for usage");
        return 2;
    }
}
