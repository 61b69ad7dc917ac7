using System.Text;
using k8s.Models;

namespace Scheduler.LocalCluster.Runtime;

/// <summary>The /etc/hosts kubelet writes for a pod on the host network: localhost, the pod's name, then spec.hostAliases. Pure.</summary>
public static class PodHostsFile
{
    public static string Render(string podName, IEnumerable<V1HostAlias>? aliases)
    {
        var text = new StringBuilder();
        text.Append("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
        text.Append("127.0.0.1\t").Append(podName).Append('\n');
        var header = false;
        foreach (var alias in aliases ?? [])
        {
            // Names and addresses were validated by the API server; anything with a line break is dropped, never written.
            var names = (alias.Hostnames ?? []).Where(name => !string.IsNullOrWhiteSpace(name) && !name.Any(char.IsWhiteSpace)).ToList();
            if (names.Count == 0 || string.IsNullOrEmpty(alias.Ip) || alias.Ip.Any(char.IsWhiteSpace)) continue;
            if (!header) text.Append("\n# Entries added by HostAliases.\n");
            header = true;
            text.Append(alias.Ip).Append('\t').Append(string.Join('\t', names)).Append('\n');
        }
        return text.ToString();
    }
}
