namespace Scheduler.Config;

/// <summary>A string-to-string map entry with where its value is written.</summary>
internal sealed record MapItem(string Key, string Value, SourcePosition Position, string Path);

/// <summary>
/// Reads typed values out of one TOML table, reporting type errors with the key's path and the value's position,
/// and remembering which keys were read so that the rest can be reported as unsupported or unknown.
/// Keys match exactly, else case-insensitively, as Go's TOML decoder (used by GitLab Runner) does.
/// </summary>
internal sealed class TableReader
{
    private readonly TomlTableNode _table;
    private readonly DiagnosticCollector _diagnostics;
    private readonly HashSet<string> _consumed = new(StringComparer.Ordinal);

    public TableReader(TomlTableNode table, string path, DiagnosticCollector diagnostics)
    {
        _table = table;
        Path = path;
        _diagnostics = diagnostics;
    }

    /// <summary>The readable path of this table, e.g. <c>runners[0].kubernetes</c>.</summary>
    public string Path { get; }

    public SourcePosition Position => _table.Position;

    public DiagnosticCollector Diagnostics => _diagnostics;

    /// <summary>The keys of this table, in file order.</summary>
    public IReadOnlyList<string> Keys => _table.Entries.Select(e => e.Key).ToList();

    public string KeyPath(string key) => Path.Length == 0 ? key : $"{Path}.{key}";

    /// <summary>The entry for <paramref name="key"/>, marked as read.</summary>
    public TomlEntry? Take(string key)
    {
        var entry = Lookup(key);
        if (entry is not null)
        {
            _consumed.Add(entry.Key);
        }

        return entry;
    }

    /// <summary>Where the value of <paramref name="key"/> is written, or the table's position when it is absent.</summary>
    public SourcePosition ValuePosition(string key) => Lookup(key)?.Value.Position ?? Position;

    private TomlEntry? Lookup(string key) =>
        _table.Find(key) ?? _table.Entries.FirstOrDefault(e => string.Equals(e.Key, key, StringComparison.OrdinalIgnoreCase));

    /// <param name="secret">True for tokens: a wrongly typed value is then never echoed in the message.</param>
    public string? String(string key, bool secret = false)
    {
        var entry = Take(key);
        return entry is null ? null : AsString(entry.Value, KeyPath(key), secret);
    }

    public bool? Bool(string key)
    {
        var entry = Take(key);
        if (entry is null)
        {
            return null;
        }

        if (entry.Value is TomlScalarNode { Kind: TomlScalarKind.Boolean, Value: bool value })
        {
            return value;
        }

        TypeError(entry.Value, KeyPath(key), "a boolean (true or false)");
        return null;
    }

    public long? Long(string key)
    {
        var entry = Take(key);
        return entry is null ? null : AsLong(entry.Value, KeyPath(key));
    }

    public int? Int(string key)
    {
        var entry = Take(key);
        if (entry is null)
        {
            return null;
        }

        var value = AsLong(entry.Value, KeyPath(key));
        if (value is null)
        {
            return null;
        }

        if (value is < int.MinValue or > int.MaxValue)
        {
            _diagnostics.Error(entry.Value.Position, KeyPath(key), $"{value} is out of range");
            return null;
        }

        return (int)value;
    }

    /// <summary>A duration in seconds (or <paramref name="unit"/>): an integer no larger than
    /// <see cref="ConfigRules.MaxDurationSeconds"/>, since timers cannot wait much longer (a larger one is an error here,
    /// not a crash when the runner waits for it).</summary>
    public int? Duration(string key, string unit = "seconds", long max = ConfigRules.MaxDurationSeconds)
    {
        var entry = Take(key);
        if (entry is null)
        {
            return null;
        }

        var value = AsLong(entry.Value, KeyPath(key));
        if (value > max)
        {
            _diagnostics.Error(entry.Value.Position, KeyPath(key), $"{value} is too long: at most {max} {unit}");
            return null;
        }

        if (value < int.MinValue)
        {
            _diagnostics.Error(entry.Value.Position, KeyPath(key), $"{value} is out of range");
            return null;
        }

        return (int?)value;
    }

    /// <summary>A Go duration string ("5m", "300s", "1h30m") as GitLab Runner's duration keys are written; not set, "0" or
    /// not a duration (an error): <paramref name="fallback"/>.</summary>
    public TimeSpan GoDuration(string key, TimeSpan fallback)
    {
        var text = String(key);
        if (string.IsNullOrEmpty(text))
        {
            return fallback;
        }

        if (ConfigRules.GoDuration(text) is not { } duration)
        {
            _diagnostics.Error(ValuePosition(key), KeyPath(key),
                $"\"{text}\" is not a duration: write it as \"300s\", \"5m\" or \"1h30m\" (at most {ConfigRules.MaxDurationSeconds} s)");
            return fallback;
        }

        return duration > TimeSpan.Zero ? duration : fallback;
    }

    public IReadOnlyList<string>? StringList(string key)
    {
        var entry = Take(key);
        if (entry is null)
        {
            return null;
        }

        if (entry.Value is not TomlArrayNode array)
        {
            TypeError(entry.Value, KeyPath(key), "an array of strings");
            return null;
        }

        var result = new List<string>();
        for (var i = 0; i < array.Items.Count; i++)
        {
            if (AsString(array.Items[i], $"{KeyPath(key)}[{i}]") is { } text)
            {
                result.Add(text);
            }
        }

        return result;
    }

    /// <summary>A string or an array of strings (GitLab Runner's <c>StringOrArray</c>), as a list.</summary>
    public IReadOnlyList<string>? StringOrList(string key)
    {
        var entry = Lookup(key);
        if (entry?.Value is TomlScalarNode { Kind: TomlScalarKind.String })
        {
            return String(key) is { } single ? [single] : null;
        }

        return StringList(key);
    }

    public IReadOnlyList<long>? LongList(string key)
    {
        var entry = Take(key);
        if (entry is null)
        {
            return null;
        }

        if (entry.Value is not TomlArrayNode array)
        {
            TypeError(entry.Value, KeyPath(key), "an array of integers");
            return null;
        }

        var result = new List<long>();
        for (var i = 0; i < array.Items.Count; i++)
        {
            if (AsLong(array.Items[i], $"{KeyPath(key)}[{i}]") is { } number)
            {
                result.Add(number);
            }
        }

        return result;
    }

    /// <summary>A table of string values, in file order; entries with other value types are reported and skipped.</summary>
    public IReadOnlyList<MapItem>? StringMap(string key)
    {
        var entry = Take(key);
        if (entry is null)
        {
            return null;
        }

        if (entry.Value is not TomlTableNode table)
        {
            TypeError(entry.Value, KeyPath(key), "a table of strings");
            return null;
        }

        var result = new List<MapItem>();
        foreach (var item in table.Entries)
        {
            var path = $"{KeyPath(key)}[{Quote(item.Key)}]";
            if (AsString(item.Value, path) is { } text)
            {
                result.Add(new MapItem(item.Key, text, item.Value.Position, path));
            }
        }

        return result;
    }

    public TableReader? Table(string key)
    {
        var entry = Take(key);
        if (entry is null)
        {
            return null;
        }

        if (entry.Value is TomlTableNode table)
        {
            return new TableReader(table, KeyPath(key), _diagnostics);
        }

        TypeError(entry.Value, KeyPath(key), "a table");
        return null;
    }

    /// <summary>An array of tables, written as <c>[[key]]</c> sections or as an array of inline tables.</summary>
    public IReadOnlyList<TableReader>? TableArray(string key)
    {
        var entry = Take(key);
        if (entry is null)
        {
            return null;
        }

        if (entry.Value is not TomlArrayNode array)
        {
            TypeError(entry.Value, KeyPath(key), $"an array of tables ([[{KeyPath(key)}]])");
            return null;
        }

        var result = new List<TableReader>();
        for (var i = 0; i < array.Items.Count; i++)
        {
            var path = $"{KeyPath(key)}[{i}]";
            if (array.Items[i] is TomlTableNode table)
            {
                result.Add(new TableReader(table, path, _diagnostics));
            }
            else
            {
                TypeError(array.Items[i], path, "a table");
            }
        }

        return result;
    }

    /// <summary>
    /// Reports every key that was not read: a warning naming a GitLab Runner setting that has no effect here, and why,
    /// or, for a key GitLab Runner does not know either, a warning with a "did you mean" hint when one is close.
    /// </summary>
    public void ReportUnread(IReadOnlyCollection<string> supported, IReadOnlyDictionary<string, ConfigKeys.NoEffect> noEffect)
    {
        foreach (var entry in _table.Entries)
        {
            if (_consumed.Contains(entry.Key))
            {
                continue;
            }

            var path = KeyPath(entry.Key);
            var known = noEffect.FirstOrDefault(k => string.Equals(k.Key, entry.Key, StringComparison.OrdinalIgnoreCase));
            if (known.Value is not null)
            {
                _diagnostics.Warning(entry.KeyPosition, path, known.Value.Message);
                continue;
            }

            var suggestion = KeySuggestions.Closest(entry.Key, supported.Concat(noEffect.Keys));
            var hint = suggestion is null ? "" : $"; did you mean \"{suggestion}\"?";
            _diagnostics.Warning(entry.KeyPosition, path, $"unknown key, ignored{hint}");
        }
    }

    /// <summary>Marks <paramref name="key"/> as read and reports that it has no effect (when present).</summary>
    public void NoEffect(string key, ConfigKeys.NoEffect why)
    {
        if (Take(key) is { } entry)
        {
            _diagnostics.Warning(entry.KeyPosition, KeyPath(key), why.Message);
        }
    }

    public void TypeError(TomlNode value, string path, string expected) =>
        _diagnostics.Error(value.Position, path, $"expected {expected}, found {value.TypeName}");

    private string? AsString(TomlNode value, string path, bool secret = false)
    {
        if (value is TomlScalarNode { Kind: TomlScalarKind.String, Value: string text })
        {
            return text;
        }

        // A number where a string belongs is what users most often write for quantities; say how to fix it.
        var hint = !secret && value is TomlScalarNode { Kind: TomlScalarKind.Integer or TomlScalarKind.Float } scalar
            ? $" (write it in quotes: \"{System.Convert.ToString(scalar.Value, System.Globalization.CultureInfo.InvariantCulture)}\")"
            : "";
        _diagnostics.Error(value.Position, path, $"expected a string, found {value.TypeName}{hint}");
        return null;
    }

    private long? AsLong(TomlNode value, string path)
    {
        if (value is TomlScalarNode { Kind: TomlScalarKind.Integer, Value: long number })
        {
            return number;
        }

        TypeError(value, path, "an integer");
        return null;
    }

    private static string Quote(string key) => "\"" + key.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
}
