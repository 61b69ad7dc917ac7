using System.Text;
using k8s.Models;

namespace Scheduler.LocalCluster.Runtime;

/// <summary>
/// The pod's /etc/hosts as the kubelet writes it: localhost, the pod's own name, then <c>spec.hostAliases</c>. One file
/// per pod, bind-mounted (writable, as the kubelet's) into each of its containers, so every container of the pod resolves
/// the same names (a service's alias among them) and no other pod or the host sees them. Not for a container that mounts
/// /etc/hosts itself, nor for a hostNetwork pod (it keeps the host's file).
/// </summary>
internal static class PodHostsFile
{
    public const string ContainerPath = "/etc/hosts";

    /// <summary>The file's content. The pod's address is loopback here: every pod shares the node's network.</summary>
    public static string Render(V1Pod pod, string hostname)
    {
        var text = new StringBuilder("# Kubernetes-managed hosts file.\n");
        text.Append("127.0.0.1\tlocalhost\n");
        text.Append("::1\tlocalhost ip6-localhost ip6-loopback\n");
        text.Append("fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n");
        text.Append("127.0.0.1\t").Append(hostname).Append('\n');
        var aliases = (pod.Spec?.HostAliases ?? []).Where(a => !string.IsNullOrEmpty(a.Ip) && a.Hostnames is { Count: > 0 }).ToList();
        if (aliases.Count > 0)
        {
            text.Append("\n# Entries added by HostAliases.\n");
            foreach (var alias in aliases)
            {
                // A line break in a name would add a line of the pod's choosing; the API validates names, the file does too.
                var names = alias.Hostnames.Where(IsPlainName).ToList();
                if (IsPlainName(alias.Ip) && names.Count > 0)
                {
                    text.Append(alias.Ip).Append('\t').Append(string.Join('\t', names)).Append('\n');
                }
            }
        }

        return text.ToString();
    }

    /// <summary>Whether the pod's containers get the managed file; false when hostNetwork is set or the container
    /// mounts /etc/hosts itself.</summary>
    public static bool Applies(V1Pod pod, IEnumerable<SandboxMount> containerMounts) =>
        pod.Spec?.HostNetwork != true && !containerMounts.Any(m => m.ContainerPath.TrimEnd('/') == ContainerPath);

    /// <summary>Writes the pod's file once (a container restart keeps what the job added to it) and returns its path.</summary>
    public static string Ensure(string podDir, V1Pod pod, string hostname)
    {
        var path = Path.Combine(podDir, "etc-hosts");
        if (!File.Exists(path))
        {
            Directory.CreateDirectory(podDir);
            var temporary = path + ".tmp";
            File.WriteAllText(temporary, Render(pod, hostname));
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(temporary, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            File.Move(temporary, path, overwrite: true);
        }

        return path;
    }

    private static bool IsPlainName(string value) => value.Length > 0 && value.All(c => c > ' ' && c != '#' && c < 0x7f);
}
