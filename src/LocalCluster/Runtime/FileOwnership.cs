using System.ComponentModel;
using System.Runtime.InteropServices;

namespace Scheduler.LocalCluster.Runtime;

/// <summary>chown for the runtime (.NET has none): a pod's volumes belong to the pod's uid and group.</summary>
public static class FileOwnership
{
    [DllImport("libc", EntryPoint = "lchown", SetLastError = true)]
    private static extern int SysLchown(string path, uint owner, uint group);

    /// <summary>Sets the owner without following a link (a link placed by a pod never hands it a host file).</summary>
    public static void Change(string path, long uid, long gid)
    {
        if (SysLchown(path, checked((uint)uid), checked((uint)gid)) != 0)
        {
            throw new IOException($"chown {path}: {new Win32Exception(Marshal.GetLastPInvokeError()).Message}");
        }
    }

    /// <summary>Hands a directory and everything in it to a uid and gid; links are changed, never followed.</summary>
    public static void ChangeTree(string directory, long uid, long gid)
    {
        foreach (var entry in Directory.EnumerateFileSystemEntries(directory, "*", SearchOption.AllDirectories).Prepend(directory))
        {
            Change(entry, uid, gid);
        }
    }

    /// <summary>A directory only the runtime's user may enter: mounts from it are made by root, so pods still get their volumes.</summary>
    public static void MakePrivate(string directory)
    {
        Directory.CreateDirectory(directory);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    public static void SetMode(string path, UnixFileMode mode)
    {
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, mode);
    }

    public static UnixFileMode GetMode(string path) => OperatingSystem.IsWindows() ? UnixFileMode.None : File.GetUnixFileMode(path);
}
