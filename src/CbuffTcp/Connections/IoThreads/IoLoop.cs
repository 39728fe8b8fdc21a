using System.ComponentModel;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace CbuffTcp.Connections.IoThreads;

/// <summary>
/// One I/O thread: an edge-triggered epoll instance and the sockets registered with it. The thread waits in
/// <c>epoll_wait</c> and, for each event, wakes the socket's waiting loop inline, so a connection's read, decode,
/// handler and reply run on this thread. It never runs anything else.
/// </summary>
/// <remarks>
/// Right after handling events it checks for more without sleeping, yielding its core to any other runnable thread
/// between checks, for at most its spin window (<see cref="IoSpinWindow"/>); then it sleeps until the next event. A
/// busy loop so never pays for being woken (on a virtual machine, waking a halted core costs its waker tens of
/// microseconds, more than a round trip on loopback); an idle one costs nothing after the window.
/// </remarks>
internal sealed unsafe class IoLoop
{
    private const int MaxEventsPerWait = 256;

    private static int s_unexpectedErrors;

    [ThreadStatic]
    private static bool t_isIoThread;

    private readonly int _epoll;
    private readonly Lock _lock = new();
    private readonly Stack<int> _freeSlots = new();
    private readonly long _spinTicks;
    private IoSocket?[] _slots = new IoSocket?[64];
    private int _usedSlots;
    private uint _nextGeneration;
    private long _eventsFoundSpinning;
    private long _sleeps;
    private IoSocket? _current;
    private long _handled;

    /// <param name="index">Names the thread.</param>
    /// <param name="spinWindow">How long after its last event the thread checks for more before it sleeps (zero: never).</param>
    public IoLoop(int index, TimeSpan spinWindow)
    {
        _spinTicks = (long)(spinWindow.TotalSeconds * Stopwatch.Frequency);
        _epoll = EpollInterop.Create(EpollInterop.EpollCloexec);
        if (_epoll < 0)
        {
            throw new Win32Exception(Marshal.GetLastPInvokeError(), "epoll_create1 failed");
        }

        Name = $"CbuffTcp I/O {index}";
        new Thread(Run) { IsBackground = true, Name = Name }.Start();
    }

    /// <summary>The thread's name, for reports.</summary>
    public string Name { get; }

    /// <summary>The socket whose event the thread is handling now (null between events), and how many it has finished: the watchdog's view.</summary>
    public (IoSocket? Current, long Handled) Activity => (Volatile.Read(ref _current), Volatile.Read(ref _handled));

    /// <summary>True on an I/O thread: work that is not a socket's (a connection's teardown) moves off it.</summary>
    public static bool IsCurrentThread => t_isIoThread;

    /// <summary>Exceptions that escaped a wake-up (there should be none: continuations catch their own).</summary>
    public static int UnexpectedErrors => Volatile.Read(ref s_unexpectedErrors);

    /// <summary>Raised on the I/O thread for each exception that escaped a wake-up; running servers report it.</summary>
    public static event Action<Exception>? UnexpectedError;

    /// <summary>Waits that found events without sleeping, within the spin window. For tests.</summary>
    public long EventsFoundSpinning => Volatile.Read(ref _eventsFoundSpinning);

    /// <summary>Waits that slept until an event came. For tests.</summary>
    public long Sleeps => Volatile.Read(ref _sleeps);

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
        ConnectionArrayPool.KeepArraysOnThisThread(); // this thread rents what it returns: each echo's send array
        var events = (byte*)NativeMemory.Alloc((nuint)(MaxEventsPerWait * EpollInterop.EventSize));
        var lastEventAt = 0L;
        while (true)
        {
            var count = WaitForEvents(events, lastEventAt);
            if (count > 0)
            {
                if (_spinTicks > 0)
                {
                    lastEventAt = Stopwatch.GetTimestamp(); // only the spin window needs the clock
                }
            }
            else if (count < 0)
            {
                if (Marshal.GetLastPInvokeError() == EpollInterop.EINTR)
                {
                    continue;
                }

                Environment.FailFast($"CbuffTcp I/O thread: epoll_wait failed with errno {Marshal.GetLastPInvokeError()}.");
            }

            for (var i = 0; i < count; i++)
            {
                Dispatch(EpollInterop.DataAt(events, i), EpollInterop.EventsAt(events, i));
            }
        }
    }

    /// <summary>
    /// Hands one event to its socket. A method of its own: a socket held in <see cref="Run"/>'s frame (a local in a
    /// try block stays reported to the GC) would keep the last socket handled, and its ended connection, alive while the
    /// thread sleeps in epoll_wait.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Dispatch(ulong token, uint events)
    {
        var socket = Volatile.Read(ref _slots)[(int)(uint)token];
        if (socket is null || socket.Token != token)
        {
            return; // closed since the event was queued
        }

        Volatile.Write(ref _current, socket); // for the watchdog: a handler that blocks is seen stuck on this socket
        try
        {
            socket.OnEvents(events);
        }
        catch (Exception ex)
        {
            // A continuation that throws would be a CbuffTcp bug; the thread serves other sockets regardless.
            Interlocked.Increment(ref s_unexpectedErrors);
            Report(ex);
        }

        Volatile.Write(ref _current, null);
        Volatile.Write(ref _handled, _handled + 1); // only this thread writes
    }

    private static void Report(Exception exception)
    {
        try
        {
            UnexpectedError?.Invoke(exception);
        }
        catch (Exception)
        {
            // A reporter that throws must not take the I/O thread down; the count above still has it.
        }
    }

    /// <summary>Within the spin window after the last event, checks for events without sleeping; then sleeps until one comes.</summary>
    private int WaitForEvents(byte* events, long lastEventAt)
    {
        while (_spinTicks > 0 && Stopwatch.GetTimestamp() - lastEventAt < _spinTicks)
        {
            var ready = EpollInterop.Wait(_epoll, events, MaxEventsPerWait, 0);
            if (ready != 0)
            {
                Volatile.Write(ref _eventsFoundSpinning, _eventsFoundSpinning + (ready > 0 ? 1 : 0)); // only this thread writes
                return ready; // events, or an error for the caller
            }

            Thread.Yield(); // any runnable thread on this core goes first
        }

        Volatile.Write(ref _sleeps, _sleeps + 1);
        return EpollInterop.Wait(_epoll, events, MaxEventsPerWait, -1);
    }
}
