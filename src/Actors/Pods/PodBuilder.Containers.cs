using System.Text;
using System.Text.Json;
using k8s.Models;
using Scheduler.Actors.Jobs;
using Scheduler.Actors.Scripts;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Pods;

// Service containers, ports and the build and service containers' env.
public static partial class PodBuilder
{
    private static List<V1ContainerPort>? Ports(IReadOnlyList<JobPort> ports, string container)
    {
        if (ports.Count == 0)
        {
            return null;
        }

        return ports.Select(port => port.Number is >= 1 and <= 65535
            ? new V1ContainerPort { ContainerPort = port.Number }
            : throw Refuse($"container {container}: port {port.Number} is out of range 1-65535")).ToList();
    }

    /// <summary>Config services first, then the job's; empty names are skipped before numbering. A config service's
    /// <c>environment</c> entries (<c>NAME=value</c>) become its variables, its <c>ports</c> its container ports (so, as for
    /// a job's service with ports, its names are not added to the host aliases).</summary>
    private static List<JobService> ServiceDefinitions(KubernetesSettings settings, JobPayload job) =>
        settings.Services.Where(s => !string.IsNullOrWhiteSpace(s.Name))
            .Select(s => new JobService
            {
                Name = s.Name,
                Alias = s.Alias,
                Command = s.Command,
                Entrypoint = s.Entrypoint,
                Variables = s.Environment.Select(entry =>
                {
                    var equals = entry.IndexOf('=');
                    return new JobServiceVariable { Key = equals < 0 ? entry : entry[..equals], Value = equals < 0 ? "" : entry[(equals + 1)..] };
                }).ToList(),
                Ports = s.Ports.Select(p => new JobPort { Number = p.Number, Protocol = p.Protocol, Name = p.Name }).ToList(),
            })
            .Concat(job.Services.Where(s => !string.IsNullOrWhiteSpace(s.Name)))
            .ToList();

    private static List<V1Container> Services(List<JobService> definitions, JobVariableLookup lookup,
        List<V1EnvVar> env, ResolvedResources resources, List<V1VolumeMount> mounts, Func<JobService, string?> pullPolicyOf,
        Func<JobService, V1SecurityContext> securityContextOf, V1Lifecycle? lifecycle, string jobSecretName)
    {
        var containers = new List<V1Container>();
        for (var i = 0; i < definitions.Count; i++)
        {
            var service = definitions[i];
            var name = $"svc-{i}";
            var serviceEnv = new List<V1EnvVar>(env);
            foreach (var variable in service.Variables)
            {
                if (!IsVariableName(variable.Key))
                {
                    throw Refuse($"service \"{service.Name}\": variable name \"{variable.Key}\" is not a valid environment variable name");
                }

                var value = lookup.ExpandShowable(variable.Value, out var hidden);
                if (hidden is null)
                {
                    serviceEnv.Add(new V1EnvVar { Name = variable.Key, Value = EscapeForKubelet(value) });
                    continue;
                }

                // "$DB_PASSWORD" alone: the kubelet reads the value from the job Secret, so it never appears in the pod.
                if (SecretReference(variable.Value, lookup) is { } secretKey)
                {
                    serviceEnv.Add(new V1EnvVar
                    {
                        Name = variable.Key,
                        ValueFrom = new V1EnvVarSource { SecretKeyRef = new V1SecretKeySelector { Name = jobSecretName, Key = secretKey } },
                    });
                    continue;
                }

                throw Refuse($"service \"{service.Name}\": variable {variable.Key} mixes the masked, non-public or file variable {hidden} " +
                             "with other text; secrets never go into container env literals (use the variable alone: ${hidden})");
            }

            containers.Add(new V1Container
            {
                Name = name,
                Image = ExpandImage(service.Name, lookup, $"service {name} image"),
                Command = service.Entrypoint.Count > 0 ? service.Entrypoint.ToList() : null,
                Args = service.Command.Count > 0 ? service.Command.ToList() : null,
                Env = serviceEnv.Count > 0 ? serviceEnv : null,
                Ports = Ports(service.Ports, name),
                Resources = resources.ForService(i),
                VolumeMounts = mounts.ToList(),
                ImagePullPolicy = pullPolicyOf(service),
                SecurityContext = securityContextOf(service),
                Lifecycle = lifecycle,
            });
        }

        return containers;
    }

    /// <summary>The job Secret key of a value that is exactly one reference (<c>$X</c> or <c>${X}</c>) to a non-file
    /// variable kept in the job Secret; otherwise null.</summary>
    private static string? SecretReference(string value, JobVariableLookup lookup)
    {
        var name = value.StartsWith("${", StringComparison.Ordinal) && value.EndsWith('}') ? value[2..^1]
            : value.StartsWith('$') ? value[1..] : null;
        if (name is null || !IsVariableName(name) || lookup.Find(name) is not { IsShowable: false, File: false })
        {
            return null;
        }

        return JobSecretLayout.VariablePrefix + name;
    }

    /// <summary>The container env: runner <c>environment</c>, a few predefined public variables, then the job's public,
    /// unmasked, non-file variables that fit in an environment entry. A repeated name keeps its first position and its
    /// last value.</summary>
    private static List<V1EnvVar> Env(RunnerEntry runner, JobPayload job, int concurrentId, RunnerIdentity identity, string buildsDir)
    {
        var ordered = new List<string>();
        var values = new Dictionary<string, string>(StringComparer.Ordinal);

        foreach (var entry in runner.Environment)
        {
            var equals = entry.IndexOf('=');
            Set(equals < 0 ? entry : entry[..equals], equals < 0 ? "" : entry[(equals + 1)..], "runner environment");
        }

        Set("CI_RUNNER_VERSION", identity.Version, "");
        Set("CI_RUNNER_REVISION", identity.Revision, "");
        Set("CI_RUNNER_EXECUTABLE_ARCH", identity.Architecture, "");
        Set("CI_CONCURRENT_ID", concurrentId.ToString(System.Globalization.CultureInfo.InvariantCulture), "");
        Set("CI_BUILDS_DIR", buildsDir, "");

        foreach (var variable in job.Variables)
        {
            // One longer than an environment entry may be would stop the container from starting (E2BIG): the stage
            // scripts give it to the job's shell instead (EnvironmentLimit).
            if (variable.IsShowable && !variable.File && EnvironmentLimit.Fits(variable.Key, variable.Value))
            {
                Set(variable.Key, variable.Value, "job variable");
            }
        }

        return ordered.Select(name => new V1EnvVar { Name = name, Value = EscapeForKubelet(values[name]) }).ToList();

        void Set(string name, string value, string source)
        {
            if (!IsVariableName(name))
            {
                throw Refuse($"{source} name \"{name}\" is not a valid environment variable name");
            }

            if (!values.ContainsKey(name))
            {
                ordered.Add(name);
            }

            values[name] = value;
        }
    }

    /// <summary>The kubelet expands <c>$(VAR)</c> in env values and turns <c>$$</c> into <c>$</c>: doubling every
    /// <c>$</c> makes the container see the value as it was sent.</summary>
    public static string EscapeForKubelet(string value) => value.Replace("$", "$$", StringComparison.Ordinal);

    private static bool IsVariableName(string name) =>
        name.Length > 0 && name.All(c => c is '_' or (>= '0' and <= '9') or (>= 'a' and <= 'z') or (>= 'A' and <= 'Z'));
}
