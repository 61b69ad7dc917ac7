using k8s.Models;

namespace Scheduler.LocalCluster.Validation;

/// <summary>Secret and ConfigMap validation: names, data keys and size limits.</summary>
public static class ConfigValidation
{
    public const long MaxSecretSize = 1024 * 1024;

    public static List<FieldError> ValidateSecret(V1Secret secret)
    {
        var errors = MetadataValidation.Validate(secret.Metadata, true, NameRule.Dns1123Subdomain);
        long total = 0;
        foreach (var (key, value) in secret.Data ?? new Dictionary<string, byte[]>())
        {
            errors.AddRange(ValidateKey("data", key));
            total += value?.Length ?? 0;
        }
        foreach (var key in (secret.StringData ?? new Dictionary<string, string>()).Keys)
            errors.AddRange(ValidateKey("stringData", key));
        if (total > MaxSecretSize) errors.Add(FieldError.TooLong("data", MaxSecretSize));
        if (secret.Type == "kubernetes.io/dockerconfigjson" && secret.Data?.ContainsKey(".dockerconfigjson") != true)
            errors.Add(FieldError.Required("data[.dockerconfigjson]"));
        return errors;
    }

    public static List<FieldError> ValidateConfigMap(V1ConfigMap configMap)
    {
        var errors = MetadataValidation.Validate(configMap.Metadata, true, NameRule.Dns1123Subdomain);
        foreach (var key in (configMap.Data ?? new Dictionary<string, string>()).Keys)
            errors.AddRange(ValidateKey("data", key));
        foreach (var key in (configMap.BinaryData ?? new Dictionary<string, byte[]>()).Keys)
        {
            errors.AddRange(ValidateKey("binaryData", key));
            if (configMap.Data?.ContainsKey(key) == true)
                errors.Add(FieldError.Invalid("data", key, "duplicate of key present in binaryData"));
        }
        return errors;
    }

    private static IEnumerable<FieldError> ValidateKey(string field, string key)
    {
        if (!NameRules.IsConfigKey(key)) yield return FieldError.Invalid($"{field}[{key}]", key, NameRules.ConfigKeyMessage);
    }
}
