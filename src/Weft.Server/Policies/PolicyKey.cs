namespace Weft.Server.Policies;

/// <summary>A policy as the store keeps it: source app, destination app, protocol, port range.</summary>
public readonly record struct PolicyKey(string Source, string Destination, string Protocol, int Start, int End);

/// <summary>A stored policy with the tags of both apps.</summary>
public readonly record struct PolicyRow(string Source, int SourceTag, string Destination, int DestinationTag, string Protocol, int Start, int End)
{
    public PolicyKey Key => new(Source, Destination, Protocol, Start, End);
}
