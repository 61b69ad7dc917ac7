namespace Scheduler.LocalCluster.Store;

/// <summary>A parsed label selector (<c>a=b,c!=d,e in (x,y),f notin (z),g,!h</c>), as kube's labels.Parse.</summary>
public sealed class LabelSelector
{
    private enum Op { Equals, NotEquals, In, NotIn, Exists, DoesNotExist, GreaterThan, LessThan }

    private sealed record Requirement(string Key, Op Operator, IReadOnlyList<string> Values);

    private readonly IReadOnlyList<Requirement> _requirements;

    private LabelSelector(IReadOnlyList<Requirement> requirements) => _requirements = requirements;

    public static LabelSelector Everything { get; } = new([]);

    public bool IsEmpty => _requirements.Count == 0;

    /// <summary>Parses a selector; throws FormatException with kube-like messages on bad syntax.</summary>
    public static LabelSelector Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return Everything;
        var requirements = new List<Requirement>();
        var pos = 0;
        while (true)
        {
            SkipSpaces(text, ref pos);
            requirements.Add(ParseRequirement(text, ref pos));
            SkipSpaces(text, ref pos);
            if (pos >= text.Length) break;
            if (text[pos] != ',') throw new FormatException($"found '{text[pos]}', expected: ',' or 'end of string'");
            pos++;
        }
        return new LabelSelector(requirements);
    }

    public bool Matches(IReadOnlyDictionary<string, string> labels)
    {
        foreach (var r in _requirements)
        {
            var has = labels.TryGetValue(r.Key, out var value);
            var ok = r.Operator switch
            {
                Op.Exists => has,
                Op.DoesNotExist => !has,
                Op.Equals or Op.In => has && r.Values.Contains(value!),
                Op.NotEquals or Op.NotIn => !has || !r.Values.Contains(value!),
                Op.GreaterThan => has && long.TryParse(value, out var g) && g > long.Parse(r.Values[0]),
                Op.LessThan => has && long.TryParse(value, out var l) && l < long.Parse(r.Values[0]),
                _ => false,
            };
            if (!ok) return false;
        }
        return true;
    }

    private static Requirement ParseRequirement(string s, ref int pos)
    {
        if (pos < s.Length && s[pos] == '!')
        {
            pos++;
            SkipSpaces(s, ref pos);
            return new Requirement(ReadKey(s, ref pos), Op.DoesNotExist, []);
        }
        var key = ReadKey(s, ref pos);
        SkipSpaces(s, ref pos);
        if (pos >= s.Length || s[pos] == ',') return new Requirement(key, Op.Exists, []);
        if (Take(s, ref pos, "==") || Take(s, ref pos, "=")) return new Requirement(key, Op.Equals, [ReadValue(s, ref pos)]);
        if (Take(s, ref pos, "!=")) return new Requirement(key, Op.NotEquals, [ReadValue(s, ref pos)]);
        if (Take(s, ref pos, ">")) return new Requirement(key, Op.GreaterThan, [ReadInteger(s, ref pos)]);
        if (Take(s, ref pos, "<")) return new Requirement(key, Op.LessThan, [ReadInteger(s, ref pos)]);
        if (TakeWord(s, ref pos, "notin")) return new Requirement(key, Op.NotIn, ReadSet(s, ref pos));
        if (TakeWord(s, ref pos, "in")) return new Requirement(key, Op.In, ReadSet(s, ref pos));
        throw new FormatException($"found '{s[pos..]}', expected: '=', '!=', '==', 'in', notin'");
    }

    private static string ReadKey(string s, ref int pos)
    {
        var start = pos;
        while (pos < s.Length && IsKeyChar(s[pos])) pos++;
        if (pos == start) throw new FormatException($"found '{(pos < s.Length ? s[pos..] : "")}', expected: identifier");
        var key = s[start..pos];
        if (!Validation.NameRules.IsQualifiedName(key)) throw new FormatException($"invalid label key \"{key}\"");
        return key;
    }

    private static string ReadValue(string s, ref int pos)
    {
        SkipSpaces(s, ref pos);
        var start = pos;
        while (pos < s.Length && IsKeyChar(s[pos])) pos++;
        var value = s[start..pos];
        if (!Validation.NameRules.IsLabelValue(value)) throw new FormatException($"invalid label value: \"{value}\"");
        return value;
    }

    private static string ReadInteger(string s, ref int pos)
    {
        var value = ReadValue(s, ref pos);
        if (!long.TryParse(value, out _)) throw new FormatException($"for 'Gt', 'Lt' operators, the value must be an integer: \"{value}\"");
        return value;
    }

    private static List<string> ReadSet(string s, ref int pos)
    {
        SkipSpaces(s, ref pos);
        if (pos >= s.Length || s[pos] != '(') throw new FormatException("found end of string, expected: '('");
        pos++;
        var values = new List<string>();
        while (true)
        {
            values.Add(ReadValue(s, ref pos));
            SkipSpaces(s, ref pos);
            if (pos >= s.Length) throw new FormatException("found end of string, expected: ')'");
            if (s[pos] == ')') { pos++; return values; }
            if (s[pos] != ',') throw new FormatException($"found '{s[pos]}', expected: ',' or ')'");
            pos++;
        }
    }

    private static bool IsKeyChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '/';

    private static void SkipSpaces(string s, ref int pos)
    {
        while (pos < s.Length && s[pos] == ' ') pos++;
    }

    private static bool Take(string s, ref int pos, string token)
    {
        if (string.CompareOrdinal(s, pos, token, 0, token.Length) != 0) return false;
        pos += token.Length;
        return true;
    }

    private static bool TakeWord(string s, ref int pos, string word)
    {
        if (string.CompareOrdinal(s, pos, word, 0, word.Length) != 0) return false;
        var after = pos + word.Length;
        if (after < s.Length && s[after] != ' ' && s[after] != '(') return false;
        pos = after;
        return true;
    }
}
