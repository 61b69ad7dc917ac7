using k8s.Models;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Pods;

/// <summary>
/// The securityContext of each container, as GitLab Runner builds it: capabilities start from the default drop of
/// <c>NET_RAW</c>, then <c>cap_add</c> adds and <c>cap_drop</c> drops (a later rule wins for the same capability, so
/// <c>cap_add = ["NET_RAW"]</c> lifts the default); the container's own security context then adds and drops on top,
/// and its <c>privileged</c> and <c>allow_privilege_escalation</c> override the section's. Pure.
/// </summary>
public static class ContainerSecurity
{
    /// <summary>Dropped from every container unless <c>cap_add</c> or a container context adds it back (GitLab Runner's default).</summary>
    public static readonly IReadOnlyList<string> DefaultCapDrop = ["NET_RAW"];

    public static V1SecurityContext For(KubernetesSettings settings, ContainerSecurityContextSettings? container)
    {
        var enabled = new List<KeyValuePair<string, bool>>();
        Set(DefaultCapDrop, false);
        Set(settings.CapAdd, true);
        Set(settings.CapDrop, false);
        Set(container?.CapAdd ?? [], true);
        Set(container?.CapDrop ?? [], false);
        var add = enabled.Where(c => c.Value).Select(c => c.Key).ToList();
        var drop = enabled.Where(c => !c.Value).Select(c => c.Key).ToList();

        return new V1SecurityContext
        {
            Capabilities = add.Count + drop.Count > 0
                ? new V1Capabilities { Add = add.Count > 0 ? add : null, Drop = drop.Count > 0 ? drop : null }
                : null,
            Privileged = container?.Privileged ?? (settings.Privileged ? true : null),
            AllowPrivilegeEscalation = container?.AllowPrivilegeEscalation ?? settings.AllowPrivilegeEscalation,
            RunAsUser = container?.RunAsUser,
            RunAsGroup = container?.RunAsGroup,
            RunAsNonRoot = container?.RunAsNonRoot,
            ReadOnlyRootFilesystem = container?.ReadOnlyRootFilesystem,
        };

        // One entry per capability, in first-mention order; the last rule for it decides.
        void Set(IEnumerable<string> capabilities, bool value)
        {
            foreach (var capability in capabilities)
            {
                var index = enabled.FindIndex(c => c.Key == capability);
                if (index < 0)
                {
                    enabled.Add(KeyValuePair.Create(capability, value));
                }
                else
                {
                    enabled[index] = KeyValuePair.Create(capability, value);
                }
            }
        }
    }
}
