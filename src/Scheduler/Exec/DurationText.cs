using System.Globalization;
using System.Text.RegularExpressions;

namespace Scheduler.Exec;

/// <summary>
/// Human durations as GitLab accepts them for <c>timeout</c>: "3600" (seconds), "90 minutes", "1h 30m", "1h30m",
/// "2 hours and 10 minutes", "1.5h", "1 day".
/// </summary>
public static partial class DurationText
{
    private static readonly Dictionary<string, int> UnitSeconds = new(StringComparer.OrdinalIgnoreCase)
    {
        [""] = 1,
        ["s"] = 1, ["sec"] = 1, ["secs"] = 1, ["second"] = 1, ["seconds"] = 1,
        ["m"] = 60, ["min"] = 60, ["mins"] = 60, ["minute"] = 60, ["minutes"] = 60,
        ["h"] = 3600, ["hr"] = 3600, ["hrs"] = 3600, ["hour"] = 3600, ["hours"] = 3600,
        ["d"] = 86400, ["day"] = 86400, ["days"] = 86400,
        ["w"] = 604800, ["wk"] = 604800, ["week"] = 604800, ["weeks"] = 604800,
    };

    [GeneratedRegex(@"\G\s*(?:and\s+|,\s*)?(\d+(?:\.\d+)?)\s*([a-zA-Z]*)")]
    private static partial Regex Part();

    public static bool TryParseSeconds(string text, out int seconds)
    {
        seconds = 0;
        var trimmed = text.Trim();
        if (trimmed.Length == 0 || trimmed.Length > 200)
        {
            return false;
        }

        double total = 0;
        var position = 0;
        while (position < trimmed.Length)
        {
            var match = Part().Match(trimmed, position);
            if (!match.Success || match.Length == 0)
            {
                return false;
            }

            if (!UnitSeconds.TryGetValue(match.Groups[2].Value, out var unit))
            {
                return false;
            }

            total += double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) * unit;
            position = match.Index + match.Length;
        }

        if (total > int.MaxValue)
        {
            return false;
        }

        seconds = (int)Math.Round(total);
        return true;
    }
}
