namespace CbuffTcp;

/// <summary>The outcome of a broadcast: how many clients got the message queued, and how many did not.</summary>
/// <param name="Queued">Clients whose send queue accepted the message.</param>
/// <param name="Rejected">Clients that were closing or whose queue was full.</param>
public readonly record struct BroadcastResult(int Queued, int Rejected);
