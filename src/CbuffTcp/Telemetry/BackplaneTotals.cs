namespace CbuffTcp.Telemetry;

/// <summary>What a server's backplane has done, read when a metrics listener asks.</summary>
internal readonly record struct BackplaneTotals(bool Connected, long Gaps, long Published, long Received, long Refused);
