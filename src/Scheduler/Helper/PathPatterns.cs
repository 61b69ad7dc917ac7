using System.Text;
using System.Text.RegularExpressions;

namespace Scheduler.Helper;

/// <summary>Glob patterns as GitLab Runner's doublestar matches artifact and cache paths: <c>*</c> and <c>?</c> within one
/// path segment, <c>**</c> across any number of segments, <c>[abc]</c>/<c>[!abc]</c> classes. Pure.</summary>
public static class PathPatterns
{
    /// <summary>The regex of a pattern over '/'-separated relative paths (no leading "./").</summary>
    public static Regex ToRegex(string pattern)
    {
        var regex = new StringBuilder("^");
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            switch (c)
            {
                case '*' when i + 1 < pattern.Length && pattern[i + 1] == '*':
                {
                    var atSegmentStart = i == 0 || pattern[i - 1] == '/';
                    var followedBySlash = i + 2 < pattern.Length && pattern[i + 2] == '/';
                    if (atSegmentStart && followedBySlash)
                    {
                        regex.Append("(?:[^/]*/)*"); // "**/": zero or more whole segments
                        i += 2;
                    }
                    else
                    {
                        regex.Append(".*");
                        i += 1;
                    }

                    break;
                }
                case '*':
                    regex.Append("[^/]*");
                    break;
                case '?':
                    regex.Append("[^/]");
                    break;
                case '[':
                {
                    var close = pattern.IndexOf(']', i + 2);
                    if (close < 0)
                    {
                        regex.Append("\\[");
                        break;
                    }

                    var body = pattern[(i + 1)..close];
                    var negated = body.StartsWith('!') || body.StartsWith('^');
                    if (negated)
                    {
                        body = body[1..];
                    }

                    regex.Append(negated ? "[^/" : "[").Append(body.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("[", "\\[", StringComparison.Ordinal)).Append(']');
                    i = close;
                    break;
                }
                default:
                    regex.Append(Regex.Escape(c.ToString()));
                    break;
            }
        }

        return new Regex(regex.Append('$').ToString(), RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
    }

    /// <summary>A pattern as a path relative to <paramref name="projectDir"/> ('/'-separated, no "./", no trailing '/'),
    /// or null when it points outside it.</summary>
    public static string? Relative(string pattern, string projectDir)
    {
        var root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(projectDir));
        var combined = Path.GetFullPath(Path.Combine(root, pattern.Replace('\\', '/')));
        if (combined == root)
        {
            return "";
        }

        if (!combined.StartsWith(root + "/", StringComparison.Ordinal))
        {
            return null;
        }

        return Path.TrimEndingDirectorySeparator(combined[(root.Length + 1)..]);
    }
}
