using System.Text;
using System.Text.Json;
using k8s.Models;
using Scheduler.Actors.Jobs;
using Scheduler.Actors.Scripts;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Pods;

// The job Secret and the registry Secret.
public static partial class PodBuilder
{
    /// <summary>The job token and every variable that may not go into the env, with a manifest that keeps job order.</summary>
    private static (Dictionary<string, byte[]> Data, int Count) JobSecretData(JobPayload job, JobScriptPlan? scripts)
    {
        var data = new Dictionary<string, byte[]>(StringComparer.Ordinal) { [JobSecretLayout.TokenKey] = Encoding.UTF8.GetBytes(job.Token) };
        var manifest = new List<string>();
        var lines = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var variable in job.Variables)
        {
            if (variable.IsShowable && !variable.File)
            {
                continue;
            }

            if (!IsVariableName(variable.Key))
            {
                throw Refuse($"job variable name \"{variable.Key}\" is not a valid variable name ([A-Za-z0-9_])");
            }

            var kind = variable.File ? "file" : "var";
            var line = $"{variable.Key}\t{kind}\t{(variable.Raw ? "raw" : "expand")}\t{(variable.Masked ? "masked" : "plain")}";
            if (lines.TryGetValue(variable.Key, out var index))
            {
                // A repeated key keeps its first position and its last definition.
                data.Remove(JobSecretLayout.VariablePrefix + variable.Key);
                data.Remove(JobSecretLayout.FilePrefix + variable.Key);
                manifest[index] = line;
            }
            else
            {
                lines[variable.Key] = manifest.Count;
                manifest.Add(line);
            }

            var prefix = variable.File ? JobSecretLayout.FilePrefix : JobSecretLayout.VariablePrefix;
            data[prefix + variable.Key] = Encoding.UTF8.GetBytes(variable.Value);
        }

        data[JobSecretLayout.ManifestKey] = Encoding.UTF8.GetBytes(string.Join('\n', manifest) + (manifest.Count > 0 ? "\n" : ""));
        // Another node that adopts the job rebuilds it from here; the job can read this Secret, so it holds none of the
        // payload's other secrets (registry passwords, dependency tokens): an adopter reads the pod, never creates it.
        data[JobSecretLayout.PayloadKey] = Encoding.UTF8.GetBytes(JobPayloadParser.ToJson(job.WithoutForeignSecrets()));
        if (scripts is { VariablesScript.Length: > 0 })
        {
            // Sourced by every stage script: the variables are stored once, not once per stage.
            data[JobSecretLayout.VariablesScriptKey] = Encoding.UTF8.GetBytes(scripts.VariablesScript);
        }

        foreach (var (key, url) in scripts?.CacheUrls ?? new Dictionary<string, string>())
        {
            data[key] = Encoding.UTF8.GetBytes(url);
        }

        foreach (var stage in scripts?.Stages ?? [])
        {
            if (!StageCommands.IsValidStageName(stage.Name) || !data.TryAdd(stage.SecretKey, Encoding.UTF8.GetBytes(stage.Script)))
            {
                throw Refuse($"stage name \"{stage.Name}\" is invalid or used twice");
            }
        }

        // The API server refuses Secrets over 1 MiB.
        if (data.Sum(entry => entry.Key.Length + (long)entry.Value.Length) > 1024 * 1024)
        {
            throw Refuse("the job's variables and scripts exceed the 1 MiB a Kubernetes Secret can hold");
        }

        return (data, manifest.Count);
    }

    private static V1Secret? RegistrySecret(JobPayload job, string name, string ns, IReadOnlyDictionary<string, string> labels)
    {
        var auths = new Dictionary<string, object>(StringComparer.Ordinal);
        foreach (var credential in job.Credentials.Where(c => c.IsRegistry && c.Url.Length > 0))
        {
            auths[credential.Url] = new Dictionary<string, string>
            {
                ["username"] = credential.Username,
                ["password"] = credential.Password,
                ["auth"] = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{credential.Username}:{credential.Password}")),
            };
        }

        if (auths.Count == 0)
        {
            return null;
        }

        return new V1Secret
        {
            ApiVersion = "v1",
            Kind = "Secret",
            Type = "kubernetes.io/dockerconfigjson",
            Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = ns, Labels = new Dictionary<string, string>(labels) },
            Data = new Dictionary<string, byte[]> { [".dockerconfigjson"] = JsonSerializer.SerializeToUtf8Bytes(new { auths }) },
        };
    }
}
