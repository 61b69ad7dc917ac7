namespace Scheduler.LocalCluster.Validation;

/// <summary>One validation failure, as kube-apiserver's field.Error: a path, a reason and a message.</summary>
public sealed record FieldError(string Field, string Reason, string Message, string? BadValue = null)
{
    public const string InvalidReason = "FieldValueInvalid";
    public const string RequiredReason = "FieldValueRequired";
    public const string DuplicateReason = "FieldValueDuplicate";
    public const string NotSupportedReason = "FieldValueNotSupported";
    public const string ForbiddenReason = "FieldValueForbidden";
    public const string TooLongReason = "FieldValueTooLong";
    public const string NotFoundReason = "FieldValueNotFound";

    public static FieldError Invalid(string field, string? value, string detail) =>
        new(field, InvalidReason, detail, value ?? "");

    public static FieldError Required(string field, string detail = "") => new(field, RequiredReason, detail);

    public static FieldError Duplicate(string field, string value) => new(field, DuplicateReason, "", value);

    public static FieldError NotSupported(string field, string value, IEnumerable<string> supported) =>
        new(field, NotSupportedReason, "supported values: " + string.Join(", ", supported.Select(s => $"\"{s}\"")), value);

    public static FieldError Forbidden(string field, string detail) => new(field, ForbiddenReason, detail);

    public static FieldError TooLong(string field, long max) => new(field, TooLongReason, $"must have at most {max} bytes");

    public static FieldError NotFound(string field, string value) => new(field, NotFoundReason, "", value);

    /// <summary>The cause's message without the field path, e.g. <c>Invalid value: "X": must be ...</c>.</summary>
    public string Detail()
    {
        var head = Reason switch
        {
            InvalidReason => $"Invalid value: \"{BadValue}\"",
            RequiredReason => "Required value",
            DuplicateReason => $"Duplicate value: \"{BadValue}\"",
            NotSupportedReason => $"Unsupported value: \"{BadValue}\"",
            ForbiddenReason => "Forbidden",
            TooLongReason => "Too long",
            NotFoundReason => $"Not found: \"{BadValue}\"",
            _ => Reason,
        };
        return Message.Length == 0 ? head : $"{head}: {Message}";
    }

    public override string ToString() => $"{Field}: {Detail()}";
}
