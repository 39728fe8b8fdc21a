using System.ComponentModel;
using System.Runtime.InteropServices;

namespace CbuffTcp.Connections.IoThreads;

/// <summary>
/// One I/O thread: an edge-triggered epoll instance and the sockets registered with it. The thread blocks in
/// <c>epoll_wait</c> and, for each event, wakes the socket's waiting loop inline, so a connection's read, decode,
/// handler and reply run on this thread. It never runs anything else and never polls.
/// </summary>
internal sealed unsafe class IoLoop
{
    private const int MaxEventsPerWait = 256;

    private static int s_unexpectedErrors;

    [ThreadStatic]
    private static bool t_isIoThread;

    private readonly int _epoll;
    private readonly Lock _lock = new();
    private readonly Stack<int> _freeSlots = new();
    private IoSocket?[] _slots = new IoSocket?[64];
    private int _usedSlots;
    private uint _nextGeneration;

    public IoLoop(int index)
    {
        _epoll = EpollInterop.Create(EpollInterop.EpollCloexec);
        if (_epoll < 0)
        {
            throw new Win32Exception(Marshal.GetLastPInvokeError(), "epoll_create1 failed");
        }

        new Thread(Run) { IsBackground = true, Name = $"CbuffTcp I/O {index}" }.Start();
    }

    /// <summary>True on an I/O thread: work that is not a socket's (a connection's teardown) moves off it.</summary>
    public static bool IsCurrentThread => t_isIoThread;

    /// <summary>Exceptions that escaped a wake-up (there should be none: continuations catch their own). For tests.</summary>
    public static int UnexpectedErrors => Volatile.Read(ref s_unexpectedErrors);

    /// <summary>Registers <paramref name="socket"/> for reads, writes and hang-ups, edge-triggered. Throws when epoll refuses it.</summary>
    public void Register(IoSocket socket, int fd)
    {
        ulong token;
        lock (_lock)
        {
            if (!_freeSlots.TryPop(out var slot))
            {
                if (_usedSlots == _slots.Length)
                {
                    var grown = new IoSocket?[_slots.Length * 2];
                    _slots.CopyTo(grown, 0);
                    Volatile.Write(ref _slots, grown);
                }

                slot = _usedSlots++;
            }

            // The generation tells a recycled slot's new socket from an event still in flight for its old one.
            token = ((ulong)++_nextGeneration << 32) | (uint)slot;
            socket.Token = token;
            Volatile.Write(ref _slots[slot], socket);
        }

        const uint events = EpollInterop.In | EpollInterop.Out | EpollInterop.ReadHup | EpollInterop.EdgeTriggered;
        if (EpollInterop.Add(_epoll, fd, events, token) != 0)
        {
            var error = Marshal.GetLastPInvokeError();
            Unregister(socket);
            throw new System.Net.Sockets.SocketException(error);
        }
    }

    /// <summary>Frees the socket's slot; call once its descriptor is closed (closing removes it from epoll).</summary>
    public void Unregister(IoSocket socket)
    {
        lock (_lock)
        {
            var slot = (int)(uint)socket.Token;
            if (ReferenceEquals(_slots[slot], socket))
            {
                Volatile.Write(ref _slots[slot], null);
                _freeSlots.Push(slot);
            }
        }
    }

    private void Run()
    {
        t_isIoThread = true;
        var events = (byte*)NativeMemory.Alloc((nuint)(MaxEventsPerWait * EpollInterop.EventSize));
        while (true)
        {
            var count = EpollInterop.Wait(_epoll, events, MaxEventsPerWait, -1);
            if (count < 0)
            {
                if (Marshal.GetLastPInvokeError() == EpollInterop.EINTR)
                {
                    continue;
                }

                Environment.FailFast($"CbuffTcp I/O thread: epoll_wait failed with errno {Marshal.GetLastPInvokeError()}.");
            }

            for (var i = 0; i < count; i++)
            {
                var token = EpollInterop.DataAt(events, i);
                var socket = Volatile.Read(ref _slots)[(int)(uint)token];
                if (socket is null || socket.Token != token)
                {
                    continue; // closed since the event was queued
                }

                try
                {
                    socket.OnEvents(EpollInterop.EventsAt(events, i));
                }
                catch (Exception)
                {
                    // A continuation that throws would be a CbuffTcp bug; the thread serves other sockets regardless.
                    Interlocked.Increment(ref s_unexpectedErrors);
                }
            }
        }
    }
}
