using System.Globalization;
using k8s.Models;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Jobs;

/// <summary>What a job's <c>image:kubernetes:user</c> (or a service's) comes to: the ids to run as, a warning for the
/// trace, or a refusal. Uid and Gid are null when not asked for or when the administrator's value applies.</summary>
public sealed record JobUserChoice(long? Uid, long? Gid, string? Warning, string? Refusal)
{
    public static readonly JobUserChoice None = new(null, null, null, null);
}

/// <summary>
/// The job's user, as GitLab Runner 17.11+ applies <c>image:kubernetes:user</c> and <c>services[].kubernetes:user</c>:
/// <c>uid</c> or <c>uid:gid</c> (a string or an integer, expanded with the job's variables); anything else (a name such
/// as <c>root</c>) is not applied, with GitLab Runner's warning, and the configured security context is used. The
/// administrator wins (GitLab Runner MR 5724): a <c>run_as_user</c>/<c>run_as_group</c> of the container's security
/// context (here also of <c>pod_security_context</c>, which a container-level value would otherwise override) is kept and
/// the job's value for it is ignored. A value that would apply must be in <c>allowed_users</c>/<c>allowed_groups</c> when
/// those are set, otherwise the job is refused. The helper container never takes the job's user. Pure.
/// </summary>
public static class JobUser
{
    /// <summary>The largest id Kubernetes accepts for runAsUser/runAsGroup.</summary>
    public const long MaxId = int.MaxValue;

    /// <summary>GitLab Runner's warning when the value is not <c>uid[:gid]</c>.</summary>
    public const string ParseWarning = "Error parsing 'uid' or 'gid' from image options, using the configured security context";

    /// <summary>A decimal id from 0 to <see cref="MaxId"/>.</summary>
    public static bool IsId(string text) => TryParseId(text, out _);

    /// <summary>The choice for one container. <paramref name="what"/> names where the value came from (<c>image</c>,
    /// <c>service "postgres"</c>) in warnings and refusals; neither ever shows a value that came from a non-public
    /// variable.</summary>
    public static JobUserChoice Resolve(string requested, JobVariableLookup lookup, KubernetesSettings settings,
        ContainerSecurityContextSettings? container, string what)
    {
        if (string.IsNullOrEmpty(requested))
        {
            return JobUserChoice.None;
        }

        var expanded = lookup.ExpandShowable(requested, out var hidden);
        if (hidden is not null)
        {
            return new(null, null, $"{ParseWarning}: the {what} user refers to the non-public variable {hidden}", null);
        }

        var colon = expanded.IndexOf(':');
        var uidText = colon < 0 ? expanded : expanded[..colon];
        var gidText = colon < 0 ? null : expanded[(colon + 1)..];
        if (!TryParseId(uidText, out var uid))
        {
            return new(null, null, $"{ParseWarning}: failed to parse UID \"{uidText}\" of the {what} user (a number from 0 to {MaxId})", null);
        }

        long? gid = null;
        if (gidText is not null)
        {
            if (!TryParseId(gidText, out var parsedGid))
            {
                return new(null, null, $"{ParseWarning}: failed to parse GID \"{gidText}\" of the {what} user (a number from 0 to {MaxId})", null);
            }

            gid = parsedGid;
        }

        // The administrator's ids win; only what would apply is checked against the allow-lists.
        long? applyUid = (container?.RunAsUser ?? settings.PodSecurityContext.RunAsUser) is null ? uid : null;
        long? applyGid = gid is not null && (container?.RunAsGroup ?? settings.PodSecurityContext.RunAsGroup) is null ? gid : null;
        if (applyUid is { } u && settings.AllowedUsers.Count > 0 && !settings.AllowedUsers.Contains(Text(u)))
        {
            return new(null, null, null,
                $"the {what} user {Text(u)} is not allowed by allowed_users [{string.Join(", ", settings.AllowedUsers)}]");
        }

        if (applyGid is { } g && settings.AllowedGroups.Count > 0 && !settings.AllowedGroups.Contains(Text(g)))
        {
            return new(null, null, null,
                $"the {what} group {Text(g)} is not allowed by allowed_groups [{string.Join(", ", settings.AllowedGroups)}]");
        }

        return new(applyUid, applyGid, null, null);
    }

    /// <summary>The container's security context with the job's ids where the choice has them.</summary>
    public static V1SecurityContext Apply(V1SecurityContext context, JobUserChoice choice)
    {
        if (choice.Uid is { } uid)
        {
            context.RunAsUser = uid;
        }

        if (choice.Gid is { } gid)
        {
            context.RunAsGroup = gid;
        }

        return context;
    }

    /// <summary>The warnings of the job's image and services, in pod order, for the trace.</summary>
    public static IReadOnlyList<string> Warnings(JobPayload job, KubernetesSettings settings)
    {
        var lookup = new JobVariableLookup(job.Variables);
        var warnings = new List<string>();
        if (Resolve(job.Image?.ExecutorOpts.Kubernetes.User ?? "", lookup, settings, settings.BuildContainerSecurityContext, "image").Warning is { } image)
        {
            warnings.Add(image);
        }

        foreach (var service in job.Services.Where(s => !string.IsNullOrWhiteSpace(s.Name)))
        {
            if (Resolve(service.ExecutorOpts.Kubernetes.User, lookup, settings, settings.ServiceContainerSecurityContext,
                    $"service \"{service.Name}\"").Warning is { } warning)
            {
                warnings.Add(warning);
            }
        }

        return warnings;
    }

    private static bool TryParseId(string text, out long id)
    {
        id = 0;
        return text.Length is > 0 and <= 10 && text.All(char.IsAsciiDigit)
               && long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out id) && id <= MaxId;
    }

    private static string Text(long id) => id.ToString(CultureInfo.InvariantCulture);
}
