using System.Net;

namespace Scheduler.Fleet.Tests.Harness;

/// <summary>
/// A network namespace joined to the host by a veth pair on its own /30 (<c>10.231.N.0/30</c>: the host end is .1, the
/// namespace end .2). A process started through <see cref="Wrap"/> runs inside it (<c>ip netns exec</c> execs, so the pid is
/// the process's own). <see cref="Partition"/> sets the host end down, which cuts the namespace off in both directions;
/// <see cref="Heal"/> brings it back. Disposing deletes the namespace, which takes the veth pair with it.
/// Needs root and iproute2: without them <see cref="Create"/> throws and says so.
/// </summary>
public sealed class NetworkNamespace : IDisposable
{
    private static int _next = Environment.ProcessId % 200;

    private NetworkNamespace(int index)
    {
        Index = index;
        Name = $"fleet{index}";
        HostInterface = $"flh{index}";
        InnerInterface = $"fln{index}";
        HostAddress = IPAddress.Parse($"10.231.{index}.1");
        InnerAddress = IPAddress.Parse($"10.231.{index}.2");
    }

    public int Index { get; }
    public string Name { get; }
    public string HostInterface { get; }
    public string InnerInterface { get; }

    /// <summary>The host's end: what processes in the namespace connect to.</summary>
    public IPAddress HostAddress { get; }

    /// <summary>The namespace's end: where its processes listen for the host.</summary>
    public IPAddress InnerAddress { get; }

    public static NetworkNamespace Create()
    {
        if (Command.TryRun("id", "-u").Output.Trim() != "0")
        {
            throw new InvalidOperationException("network partition tests need root (ip netns, veth): run them as root");
        }

        if (Command.TryRun("ip", "-V").ExitCode != 0)
        {
            throw new InvalidOperationException("network partition tests need iproute2's `ip` on the PATH");
        }

        var index = Interlocked.Increment(ref _next) % 250 + 1;
        var ns = new NetworkNamespace(index);
        try
        {
            ns.Setup();
            return ns;
        }
        catch
        {
            ns.Dispose();
            throw;
        }
    }

    private void Setup()
    {
        // Left over by a killed earlier run with the same index: remove it first.
        Command.TryRun("ip", "netns", "del", Name);
        Command.TryRun("ip", "link", "del", HostInterface);

        Command.Run("ip", "netns", "add", Name);
        Command.Run("ip", "link", "add", HostInterface, "type", "veth", "peer", "name", InnerInterface);
        Command.Run("ip", "link", "set", InnerInterface, "netns", Name);
        Command.Run("ip", "addr", "add", $"{HostAddress}/30", "dev", HostInterface);
        Command.Run("ip", "link", "set", HostInterface, "up");
        Command.Run("ip", "netns", "exec", Name, "ip", "addr", "add", $"{InnerAddress}/30", "dev", InnerInterface);
        Command.Run("ip", "netns", "exec", Name, "ip", "link", "set", InnerInterface, "up");
        Command.Run("ip", "netns", "exec", Name, "ip", "link", "set", "lo", "up");
    }

    /// <summary>The command line that runs <paramref name="fileName"/> with <paramref name="arguments"/> in the namespace.</summary>
    public (string FileName, IReadOnlyList<string> Arguments) Wrap(string fileName, IEnumerable<string> arguments) =>
        ("ip", ["netns", "exec", Name, fileName, .. arguments]);

    /// <summary>Cuts the namespace off: nothing passes the veth either way until <see cref="Heal"/>.</summary>
    public void Partition() => Command.Run("ip", "link", "set", HostInterface, "down");

    public void Heal() => Command.Run("ip", "link", "set", HostInterface, "up");

    public void Dispose()
    {
        Command.TryRun("ip", "netns", "del", Name);
        Command.TryRun("ip", "link", "del", HostInterface);
    }
}
