using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace Scheduler.GitLab;

/// <summary>
/// The <c>system_id</c> this machine sends with job requests and verify, kept in <c>.runner_system_id</c> next to
/// config.toml as GitLab Runner does: <c>s_</c> + 12 hex characters derived from the machine id, or <c>r_</c> + 12 random
/// alphanumerics when there is none.
/// </summary>
public static partial class RunnerSystemId
{
    public const string FileName = ".runner_system_id";

    [GeneratedRegex("^[sr]_[0-9a-zA-Z]{12}$")]
    private static partial Regex ValidPattern();

    public static bool IsValid(string? systemId) => systemId is not null && ValidPattern().IsMatch(systemId);

    /// <summary>The id stored next to <paramref name="configPath"/>, or a new one (stored there when the folder is writable).</summary>
    public static string LoadOrCreate(string configPath)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(configPath)) ?? ".";
        var file = Path.Combine(directory, FileName);
        try
        {
            if (File.Exists(file) && File.ReadAllText(file).Trim() is var stored && IsValid(stored))
            {
                return stored;
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }

        var created = FromMachineId(ReadMachineId()) ?? Random();
        try
        {
            if (Directory.Exists(directory))
            {
                File.WriteAllText(file, created + "\n");
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }

        return created;
    }

    /// <summary><c>s_</c> + the first 12 hex characters of HMAC-SHA256(machine id, "gitlab-runner"); null without a machine id.</summary>
    public static string? FromMachineId(string? machineId)
    {
        if (string.IsNullOrWhiteSpace(machineId))
        {
            return null;
        }

        var mac = HMACSHA256.HashData(Encoding.UTF8.GetBytes(machineId.Trim()), "gitlab-runner"u8);
        return "s_" + Convert.ToHexStringLower(mac)[..12];
    }

    public static string Random() =>
        "r_" + RandomNumberGenerator.GetString("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 12);

    private static string? ReadMachineId()
    {
        foreach (var path in new[] { "/etc/machine-id", "/var/lib/dbus/machine-id" })
        {
            try
            {
                if (File.Exists(path))
                {
                    return File.ReadAllText(path);
                }
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }

        return null;
    }
}
