using Scheduler.Messages.Jobs;

namespace Scheduler.Actors.Jobs;

/// <summary>Go's <c>os.Expand</c>, as GitLab Runner uses it: <c>$X</c> and <c>${X}</c> become the value of X (empty when
/// unknown), <c>$$</c> becomes <c>$</c>, shell specials (<c>$1</c>, <c>$*</c>, <c>$#</c>, …) become empty, <c>${</c> without a
/// closing brace and <c>${}</c> are eaten, a <c>$</c> not followed by a name stays.</summary>
public static class VariableExpander
{
    /// <param name="lookup">Returns the value of a variable name, or null when unknown.</param>
    public static string Expand(string value, Func<string, string?> lookup)
    {
        if (!value.Contains('$'))
        {
            return value;
        }

        var output = new System.Text.StringBuilder(value.Length);
        var copiedUpTo = 0;
        for (var j = 0; j < value.Length; j++)
        {
            if (value[j] != '$' || j + 1 >= value.Length)
            {
                continue;
            }

            output.Append(value, copiedUpTo, j - copiedUpTo);
            var (name, width) = ShellName(value.AsSpan(j + 1));
            if (name.Length == 0 && width > 0)
            {
                // Invalid syntax: the characters are eaten.
            }
            else if (name.Length == 0)
            {
                output.Append('$');
            }
            else
            {
                output.Append(Map(name, lookup));
            }

            j += width;
            copiedUpTo = j + 1;
        }

        output.Append(value, copiedUpTo, value.Length - copiedUpTo);
        return output.ToString();
    }

    /// <summary>The variable names a value refers to (specials excluded), in order of appearance.</summary>
    public static IReadOnlyList<string> References(string value)
    {
        var names = new List<string>();
        Expand(value, name =>
        {
            names.Add(name);
            return "";
        });
        return names;
    }

    private static string Map(string name, Func<string, string?> lookup)
    {
        if (name == "$")
        {
            return "$";
        }

        return name.Length == 1 && IsShellSpecial(name[0]) ? "" : lookup(name) ?? "";
    }

    private static (string Name, int Width) ShellName(ReadOnlySpan<char> s)
    {
        if (s[0] == '{')
        {
            if (s.Length > 2 && IsShellSpecial(s[1]) && s[2] == '}')
            {
                return (s.Slice(1, 1).ToString(), 3);
            }

            for (var i = 1; i < s.Length; i++)
            {
                if (s[i] == '}')
                {
                    return i == 1 ? ("", 2) : (s[1..i].ToString(), i + 1);
                }
            }

            return ("", 1);
        }

        if (IsShellSpecial(s[0]))
        {
            return (s[..1].ToString(), 1);
        }

        var length = 0;
        while (length < s.Length && IsAlphaNumeric(s[length]))
        {
            length++;
        }

        return (s[..length].ToString(), length);
    }

    private static bool IsShellSpecial(char c) => c is '*' or '#' or '$' or '@' or '!' or '?' or '-' or (>= '0' and <= '9');

    private static bool IsAlphaNumeric(char c) => c is '_' or (>= '0' and <= '9') or (>= 'a' and <= 'z') or (>= 'A' and <= 'Z');
}

/// <summary>A job's variables by name (the last definition wins), for expansion.</summary>
public sealed class JobVariableLookup
{
    private readonly Dictionary<string, JobVariable> _byKey = new(StringComparer.Ordinal);

    public JobVariableLookup(IEnumerable<JobVariable> variables)
    {
        foreach (var variable in variables)
        {
            _byKey[variable.Key] = variable;
        }
    }

    public JobVariable? Find(string key) => _byKey.GetValueOrDefault(key);

    /// <summary>Expands with every variable, secret or not: for values that never leave the runner.</summary>
    public string ExpandAll(string value) => VariableExpander.Expand(value, name => Find(name)?.Value);

    /// <summary>Expands with public, unmasked, non-file variables only (a file variable's value is the file's content,
    /// often a key). <paramref name="hiddenReference"/> names the first other variable the value refers to (it expands
    /// to nothing), so the caller can refuse.</summary>
    public string ExpandShowable(string value, out string? hiddenReference)
    {
        string? hidden = null;
        var expanded = VariableExpander.Expand(value, name =>
        {
            var variable = Find(name);
            if (variable is null)
            {
                return null;
            }

            if (variable is { IsShowable: true, File: false })
            {
                return variable.Value;
            }

            hidden ??= name;
            return null;
        });
        hiddenReference = hidden;
        return expanded;
    }
}
