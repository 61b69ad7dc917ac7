using k8s.Models;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Pods;

/// <summary>
/// The securityContext of each container, as GitLab Runner builds it (<c>GetContainerSecurityContext</c>): the section's
/// capabilities start from the default drop of <c>NET_RAW</c>, then <c>cap_add</c> adds and <c>cap_drop</c> drops (the
/// last rule for a capability wins, so <c>cap_add = ["NET_RAW"]</c> lifts the default); a container security context's
/// <c>capabilities.add</c> or <c>drop</c>, when set, replaces that list; its <c>privileged</c> and
/// <c>allow_privilege_escalation</c> override the section's; its <c>selinux_type</c> and <c>proc_mount</c> apply to that
/// container only. Pure.
/// </summary>
public static class ContainerSecurity
{
    /// <summary>Dropped from every container unless <c>cap_add</c> adds it back or a container context replaces the drop list.</summary>
    public static readonly IReadOnlyList<string> DefaultCapDrop = ["NET_RAW"];

    public static V1SecurityContext For(KubernetesSettings settings, ContainerSecurityContextSettings? container)
    {
        var enabled = new List<KeyValuePair<string, bool>>();
        Set(DefaultCapDrop, false);
        Set(settings.CapAdd, true);
        Set(settings.CapDrop, false);
        var add = container?.CapAdd ?? enabled.Where(c => c.Value).Select(c => c.Key).ToList();
        var drop = container?.CapDrop ?? enabled.Where(c => !c.Value).Select(c => c.Key).ToList();

        return new V1SecurityContext
        {
            Capabilities = add.Count + drop.Count > 0
                ? new V1Capabilities { Add = add.Count > 0 ? add.ToList() : null, Drop = drop.Count > 0 ? drop.ToList() : null }
                : null,
            Privileged = container?.Privileged ?? (settings.Privileged ? true : null),
            AllowPrivilegeEscalation = container?.AllowPrivilegeEscalation ?? settings.AllowPrivilegeEscalation,
            RunAsUser = container?.RunAsUser,
            RunAsGroup = container?.RunAsGroup,
            RunAsNonRoot = container?.RunAsNonRoot,
            ReadOnlyRootFilesystem = container?.ReadOnlyRootFilesystem,
            ProcMount = container?.ProcMount,
            SeLinuxOptions = container?.SeLinuxType is { } type ? new V1SELinuxOptions { Type = type } : null,
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
