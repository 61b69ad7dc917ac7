using System.Text.Json.Nodes;
using Scheduler.LocalCluster.Validation;

namespace Scheduler.LocalCluster.Resources;

/// <summary>A request the API server refuses; rendered as a metav1.Status with the same code and reason as kube-apiserver.</summary>
internal sealed class ApiException(int code, string reason, string message) : Exception(message)
{
    public int Code { get; } = code;
    public string Reason { get; } = reason;
    public JsonObject? Details { get; init; }
    public int? RetryAfterSeconds { get; init; }

    public static ApiException NotFound(ResourceKind kind, string name) =>
        new(404, "NotFound", $"{kind.Plural} \"{name}\" not found")
        {
            Details = new JsonObject { ["name"] = name, ["kind"] = kind.Plural },
        };

    public static ApiException NamespaceNotFound(string ns) =>
        new(404, "NotFound", $"namespaces \"{ns}\" not found")
        {
            Details = new JsonObject { ["name"] = ns, ["kind"] = "namespaces" },
        };

    public static ApiException AlreadyExists(ResourceKind kind, string name) =>
        new(409, "AlreadyExists", $"{kind.Plural} \"{name}\" already exists")
        {
            Details = new JsonObject { ["name"] = name, ["kind"] = kind.Plural },
        };

    public static ApiException Conflict(ResourceKind kind, string name) =>
        new(409, "Conflict",
            $"Operation cannot be fulfilled on {kind.Plural} \"{name}\": the object has been modified; please apply your changes to the latest version and try again")
        {
            Details = new JsonObject { ["name"] = name, ["kind"] = kind.Plural },
        };

    public static ApiException BadRequest(string message) => new(400, "BadRequest", message);

    public static ApiException MethodNotAllowed(string method) =>
        new(405, "MethodNotAllowed", $"the server does not allow this method on the requested resource ({method})");

    public static ApiException Invalid(ResourceKind kind, string name, IReadOnlyList<FieldError> errors)
    {
        var rendered = errors.Select(e => e.ToString()).ToList();
        var summary = rendered.Count == 1 ? rendered[0] : "[" + string.Join(", ", rendered) + "]";
        var causes = new JsonArray();
        foreach (var e in errors)
            causes.Add(new JsonObject { ["reason"] = e.Reason, ["message"] = e.Detail(), ["field"] = e.Field });
        return new ApiException(422, "Invalid", $"{kind.Kind} \"{name}\" is invalid: {summary}")
        {
            Details = new JsonObject { ["name"] = name, ["kind"] = kind.Kind, ["causes"] = causes },
        };
    }

    public static ApiException Expired(string message) => new(410, "Expired", message);

    public JsonObject ToStatus() => StatusJson(Code, Reason, Message, Details?.DeepClone().AsObject());

    public static JsonObject StatusJson(int code, string reason, string message, JsonObject? details = null)
    {
        var status = new JsonObject
        {
            ["kind"] = "Status",
            ["apiVersion"] = "v1",
            ["metadata"] = new JsonObject(),
            ["status"] = "Failure",
            ["message"] = message,
            ["reason"] = reason,
        };
        if (details is not null) status["details"] = details;
        status["code"] = code;
        return status;
    }
}
