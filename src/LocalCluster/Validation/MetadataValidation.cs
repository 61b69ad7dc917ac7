using System.Text;
using k8s.Models;

namespace Scheduler.LocalCluster.Validation;

/// <summary>Which rule an object's name must follow.</summary>
public enum NameRule { Dns1123Subdomain, Dns1123Label }

/// <summary>ObjectMeta validation as kube-apiserver's ValidateObjectMeta: name, namespace, labels, annotations.</summary>
public static class MetadataValidation
{
    public const long TotalAnnotationSizeLimit = 256 * 1024;

    public static List<FieldError> Validate(V1ObjectMeta? meta, bool namespaced, NameRule nameRule)
    {
        var errors = new List<FieldError>();
        if (meta is null)
        {
            errors.Add(FieldError.Required("metadata"));
            return errors;
        }
        if (string.IsNullOrEmpty(meta.Name))
            errors.Add(FieldError.Required("metadata.name", "name or generateName is required"));
        else
            errors.AddRange(ValidateName("metadata.name", meta.Name, nameRule));
        if (namespaced && !string.IsNullOrEmpty(meta.NamespaceProperty) && !NameRules.IsDns1123Label(meta.NamespaceProperty))
            errors.Add(FieldError.Invalid("metadata.namespace", meta.NamespaceProperty, NameRules.Dns1123LabelMessage));
        errors.AddRange(ValidateLabels(meta.Labels, "metadata.labels"));
        errors.AddRange(ValidateAnnotations(meta.Annotations, "metadata.annotations"));
        return errors;
    }

    public static IEnumerable<FieldError> ValidateName(string field, string name, NameRule rule)
    {
        var (ok, message, max) = rule == NameRule.Dns1123Label
            ? (NameRules.IsDns1123Label(name), NameRules.Dns1123LabelMessage, 63)
            : (NameRules.IsDns1123Subdomain(name), NameRules.Dns1123SubdomainMessage, 253);
        if (name.Length > max) yield return FieldError.Invalid(field, name, $"must be no more than {max} characters");
        else if (!ok) yield return FieldError.Invalid(field, name, message);
    }

    public static IEnumerable<FieldError> ValidateLabels(IDictionary<string, string>? labels, string field)
    {
        if (labels is null) yield break;
        foreach (var (key, value) in labels)
        {
            foreach (var message in NameRules.QualifiedNameErrors(key)) yield return FieldError.Invalid(field, key, message);
            foreach (var message in NameRules.LabelValueErrors(value ?? "")) yield return FieldError.Invalid(field, value, message);
        }
    }

    public static IEnumerable<FieldError> ValidateAnnotations(IDictionary<string, string>? annotations, string field)
    {
        if (annotations is null) yield break;
        long total = 0;
        foreach (var (key, value) in annotations)
        {
            foreach (var message in NameRules.QualifiedNameErrors(key.ToLowerInvariant()))
                yield return FieldError.Invalid(field, key, message);
            total += Encoding.UTF8.GetByteCount(key) + Encoding.UTF8.GetByteCount(value ?? "");
        }
        if (total > TotalAnnotationSizeLimit) yield return FieldError.TooLong(field, TotalAnnotationSizeLimit);
    }
}
