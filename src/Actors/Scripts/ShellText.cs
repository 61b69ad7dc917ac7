using System.Text;
using Scheduler.Actors.Jobs;

namespace Scheduler.Actors.Scripts;

/// <summary>Turning untrusted text into POSIX sh words. Pure.</summary>
public static class ShellText
{
    /// <summary>A single-quoted word: the shell sees exactly <paramref name="text"/>.</summary>
    public static string Quote(string text) => "'" + text.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    /// <summary>Words joined by spaces, each quoted.</summary>
    public static string QuoteAll(IEnumerable<string> words) => string.Join(' ', words.Select(Quote));

    /// <summary>A double-quoted word in which the variable references of GitLab's expansion (<c>$X</c>, <c>${X}</c>) stay
    /// live for the shell and everything else is literal (<c>$$</c> is one <c>$</c>), so values are expanded in the pod at
    /// run time and a referenced secret never appears in the script.</summary>
    public static string ExpandingWord(string value)
    {
        // The expander marks each reference with NUL delimiters; NUL cannot occur in an environment value.
        var clean = value.Replace("\0", "", StringComparison.Ordinal);
        var marked = VariableExpander.Expand(clean, name => "\0" + name + "\0");
        var parts = marked.Split('\0');
        var word = new StringBuilder("\"");
        for (var i = 0; i < parts.Length; i++)
        {
            if (i % 2 == 1)
            {
                // A name the shell would read as more than a name (${X:-...}) is no variable: empty, as in GitLab.
                if (IsVariableName(parts[i]))
                {
                    word.Append("${").Append(parts[i]).Append('}');
                }

                continue;
            }

            foreach (var c in parts[i])
            {
                if (c is '"' or '\\' or '$' or '`')
                {
                    word.Append('\\');
                }

                word.Append(c);
            }
        }

        return word.Append('"').ToString();
    }

    public static bool IsVariableName(string name) =>
        name.Length > 0 && name[0] is not (>= '0' and <= '9') &&
        name.All(c => c is '_' or (>= '0' and <= '9') or (>= 'a' and <= 'z') or (>= 'A' and <= 'Z'));
}
