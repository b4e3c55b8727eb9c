namespace Weft.Contracts;

// CF policy-server API shapes (cf-networking-release policy-server/api/api.go), v1 and v0.
// JSON names are snake_case through WeftJsonContext; null members are omitted on output.

/// <summary>The source app of a policy. <see cref="Tag"/> is set only in internal responses.</summary>
public sealed class PolicySource
{
    public string Id { get; set; } = "";
    public string? Tag { get; set; }
    public string? Type { get; set; }
}

/// <summary>A port range, inclusive on both ends.</summary>
public sealed class PolicyPorts
{
    public int Start { get; set; }
    public int End { get; set; }
}

public sealed class PolicyDestination
{
    public string Id { get; set; } = "";
    public string? Tag { get; set; }
    public string? Type { get; set; }
    public string Protocol { get; set; } = "";
    public PolicyPorts? Ports { get; set; }
}

/// <summary>A v1 policy: source app may reach destination app on protocol and ports.</summary>
public sealed class Policy
{
    public PolicySource? Source { get; set; }
    public PolicyDestination? Destination { get; set; }
}

/// <summary>Body of POST /networking/v1/external/policies and .../policies/delete.</summary>
public sealed class PoliciesRequest
{
    public List<Policy>? Policies { get; set; }
}

/// <summary>Response of GET .../policies (external: no tags; internal: with tags).</summary>
public sealed class PoliciesResponse
{
    public int TotalPolicies { get; set; }
    public List<Policy> Policies { get; set; } = [];
}

/// <summary>v0 destination: a single port.</summary>
public sealed class PolicyDestinationV0
{
    public string Id { get; set; } = "";
    public string? Tag { get; set; }
    public string Protocol { get; set; } = "";
    public int Port { get; set; }
}

public sealed class PolicyV0
{
    public PolicySource? Source { get; set; }
    public PolicyDestinationV0? Destination { get; set; }
}

public sealed class PoliciesRequestV0
{
    public List<PolicyV0>? Policies { get; set; }
}

public sealed class PoliciesResponseV0
{
    public int TotalPolicies { get; set; }
    public List<PolicyV0> Policies { get; set; } = [];
}

/// <summary>One tag: the 16-bit group id of an app (or router), as upper-case hex ("000C").</summary>
public sealed class TagEntry
{
    public string Id { get; set; } = "";
    public string Tag { get; set; } = "";
    public string Type { get; set; } = "";
}

public sealed class TagsResponse
{
    public List<TagEntry> Tags { get; set; } = [];
}

/// <summary>Body of PUT /networking/v1/internal/tags (get-or-create a tag).</summary>
public sealed class TagRequest
{
    public string Id { get; set; } = "";
    public string Type { get; set; } = "";
}

/// <summary>CF error envelope: {"error": "..."}.</summary>
public sealed class ErrorResponse
{
    public string Error { get; set; } = "";
}

public sealed class WhoAmIResponse
{
    public string Subject { get; set; } = "";
}

/// <summary>The empty object {} that create/delete/renew/release answer with.</summary>
public sealed class EmptyResponse;
