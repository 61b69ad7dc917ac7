using System.Globalization;
using System.Text;

namespace Scheduler.Config;

/// <summary>What <c>scheduler register</c> writes for a new runner. The token is a secret: it is never printed.</summary>
public sealed record NewRunnerEntry(string Name, string Url, string Token, long? Id = null, string Namespace = "default", string Image = "alpine:latest")
{
    public override string ToString() => $"NewRunnerEntry {{ Name = {Name}, Url = {Url}, Id = {Id}, Token = [hidden] }}";
}

/// <summary>
/// Adds a <c>[[runners]]</c> entry to a config.toml by appending text: the user's file is kept byte for byte (comments,
/// order, formatting), never rewritten through a model. A missing file is created with <c>concurrent = 1</c> and
/// <c>check_interval = 3</c>, readable by its owner only since it holds tokens. The result is checked with
/// <see cref="ConfigLoader"/> before anything is written.
/// </summary>
public static class ConfigWriter
{
    public const string NewFileHeader = "concurrent = 1\ncheck_interval = 3\n";

    /// <summary>The TOML of one runner entry, starting with its <c>[[runners]]</c> header.</summary>
    public static string RunnerEntryText(NewRunnerEntry entry)
    {
        var text = new StringBuilder();
        text.Append("[[runners]]\n");
        if (entry.Id is { } id)
        {
            // GitLab's runner id, for the reader; this runner does not use it.
            text.Append("# id = ").Append(id.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }

        text.Append("name = ").Append(Quote(entry.Name)).Append('\n');
        text.Append("url = ").Append(Quote(entry.Url)).Append('\n');
        text.Append("token = ").Append(Quote(entry.Token)).Append('\n');
        text.Append("executor = \"kubernetes\"\n");
        text.Append("[runners.kubernetes]\n");
        text.Append("namespace = ").Append(Quote(entry.Namespace)).Append('\n');
        text.Append("image = ").Append(Quote(entry.Image)).Append('\n');
        return text.ToString();
    }

    /// <summary>The text to append to a file whose current content is <paramref name="existing"/> (null: no file yet).</summary>
    public static string TextToAppend(string? existing, NewRunnerEntry entry)
    {
        var prefix = existing switch
        {
            null => NewFileHeader + "\n",
            "" => "",
            _ when existing.EndsWith('\n') => "\n",
            _ => "\n\n",
        };
        return prefix + RunnerEntryText(entry);
    }

    /// <summary>Appends the entry to <paramref name="path"/>. Returns the loader's errors for the resulting file; when there
    /// are any, nothing was written.</summary>
    public static IReadOnlyList<ConfigDiagnostic> AppendRunner(string path, NewRunnerEntry entry)
    {
        string? existing = File.Exists(path) ? File.ReadAllText(path) : null;
        var addition = TextToAppend(existing, entry);
        var check = ConfigLoader.LoadText((existing ?? "") + addition, path, new Dictionary<string, string>());
        if (check.Errors.Count > 0)
        {
            return check.Errors;
        }

        if (existing is null)
        {
            var directory = Path.GetDirectoryName(Path.GetFullPath(path));
            if (directory is not null)
            {
                Directory.CreateDirectory(directory);
            }

            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }

            using var created = new StreamWriter(path, new UTF8Encoding(false), options);
            created.Write(addition);
        }
        else
        {
            using var appended = new FileStream(path, FileMode.Append, FileAccess.Write);
            var bytes = new UTF8Encoding(false).GetBytes(addition);
            appended.Write(bytes);
        }

        return [];
    }

    /// <summary>A TOML basic string.</summary>
    public static string Quote(string value)
    {
        var text = new StringBuilder("\"");
        foreach (var c in value)
        {
            switch (c)
            {
                case '"': text.Append("\\\""); break;
                case '\\': text.Append("\\\\"); break;
                case '\n': text.Append("\\n"); break;
                case '\r': text.Append("\\r"); break;
                case '\t': text.Append("\\t"); break;
                case var control when char.IsControl(control):
                    text.Append("\\u").Append(((int)control).ToString("X4", CultureInfo.InvariantCulture));
                    break;
                default: text.Append(c); break;
            }
        }

        return text.Append('"').ToString();
    }
}
