namespace Scheduler.Config;

/// <summary>Finds the known key closest to a misspelt one.</summary>
internal static class KeySuggestions
{
    /// <summary>
    /// The candidate closest to <paramref name="key"/> when it is close enough to be a typo: the same key up to case
    /// and <c>-</c>/<c>_</c>, or within an edit distance of 1 for short keys and 2 for keys of five or more characters.
    /// </summary>
    public static string? Closest(string key, IEnumerable<string> candidates)
    {
        var normalized = Normalize(key);
        var allowed = normalized.Length >= 5 ? 2 : 1;
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var candidate in candidates)
        {
            var distance = EditDistance(normalized, Normalize(candidate));
            if (distance < bestDistance)
            {
                best = candidate;
                bestDistance = distance;
            }
        }

        return bestDistance <= allowed ? best : null;
    }

    private static string Normalize(string key) => key.ToLowerInvariant().Replace('-', '_');

    /// <summary>Levenshtein distance (insertions, deletions, substitutions).</summary>
    public static int EditDistance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
                current[j] = Math.Min(substitution, Math.Min(previous[j] + 1, current[j - 1] + 1));
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }
}
