// Reference server: framed echo (4-byte big-endian length, then the payload) on DotNetty, with its length-field frame
// decoder and prepender; writes are flushed once per read batch. Usage: ref-dotnetty PORT
using System.Net;
using DotNetty.Codecs;
using DotNetty.Transport.Bootstrapping;
using DotNetty.Transport.Channels;
using DotNetty.Transport.Channels.Sockets;

var port = int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture);
var boss = new MultithreadEventLoopGroup(1);
var workers = new MultithreadEventLoopGroup();
var bootstrap = new ServerBootstrap()
    .Group(boss, workers)
    .Channel<TcpServerSocketChannel>()
    .Option(ChannelOption.SoBacklog, 4096)
    .ChildOption(ChannelOption.TcpNodelay, true)
    .ChildHandler(new ActionChannelInitializer<ISocketChannel>(channel =>
    {
        channel.Pipeline.AddLast(new LengthFieldPrepender(4));
        channel.Pipeline.AddLast(new LengthFieldBasedFrameDecoder(64 * 1024 * 1024, 0, 4, 0, 4));
        channel.Pipeline.AddLast(new EchoHandler());
    }));
var bound = await bootstrap.BindAsync(new IPEndPoint(IPAddress.Loopback, port));
Console.WriteLine($"listening on 127.0.0.1:{port}");
await Task.Delay(Timeout.Infinite);
GC.KeepAlive(bound);

internal sealed class EchoHandler : ChannelHandlerAdapter
{
    public override void ChannelRead(IChannelHandlerContext context, object message) => context.WriteAsync(message);

    public override void ChannelReadComplete(IChannelHandlerContext context) => context.Flush();

    public override void ExceptionCaught(IChannelHandlerContext context, Exception exception) => context.CloseAsync();
}
