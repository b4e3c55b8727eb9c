using Microsoft.Extensions.Logging;

namespace Weft.Server.Hosting;

/// <summary>weft-server's log events (source-generated; one line per state change).</summary>
internal static partial class ServerLog
{
    [LoggerMessage(Level = LogLevel.Information, Message = "weft-server listening: external {External}, internal (mTLS) {Internal}, database {Engine}")]
    public static partial void Started(ILogger log, string external, string @internal, string engine);

    [LoggerMessage(Level = LogLevel.Information, Message = "created {Count} policies (subject {Subject})")]
    public static partial void PoliciesCreated(ILogger log, int count, string subject);

    [LoggerMessage(Level = LogLevel.Information, Message = "deleted {Count} policies (subject {Subject})")]
    public static partial void PoliciesDeleted(ILogger log, int count, string subject);

    [LoggerMessage(Level = LogLevel.Error, Message = "all {Capacity} tags are in use; policy create refused")]
    public static partial void TagsExhausted(ILogger log, int capacity);

    [LoggerMessage(Level = LogLevel.Error, Message = "store operation {Operation} failed")]
    public static partial void StoreFailed(ILogger log, string operation, Exception e);

    [LoggerMessage(Level = LogLevel.Information, Message = "lease acquired: {UnderlayIp} -> {Subnet}")]
    public static partial void LeaseAcquired(ILogger log, string underlayIp, string subnet);

    [LoggerMessage(Level = LogLevel.Information, Message = "lease released: {UnderlayIp}")]
    public static partial void LeaseReleased(ILogger log, string underlayIp);

    [LoggerMessage(Level = LogLevel.Information, Message = "stale-policy cleanup deleted {Count} policies")]
    public static partial void CleanupDeleted(ILogger log, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "stale-policy cleanup failed")]
    public static partial void CleanupFailed(ILogger log, Exception e);

    [LoggerMessage(Level = LogLevel.Warning, Message = "rejected client certificate {Subject}: not issued by the platform CA")]
    public static partial void ClientCertRejected(ILogger log, string subject);
}
