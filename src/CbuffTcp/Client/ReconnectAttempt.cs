namespace CbuffTcp;

/// <summary>One attempt of a <see cref="TcpClient{TMessage}"/> to connect again.</summary>
/// <param name="Attempt">Its number since the connection was lost, from 1.</param>
/// <param name="Delay">How long it waits before it connects.</param>
/// <param name="LastError">Why the previous attempt failed; null before the first.</param>
public readonly record struct ReconnectAttempt(int Attempt, TimeSpan Delay, Exception? LastError);
