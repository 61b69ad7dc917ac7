using System.CommandLine;
using System.Text.RegularExpressions;
using Scheduler.Cli;

namespace Scheduler.Scheduler.Tests.Cli;

/// <summary>
/// Every <c>scheduler</c> command the README and docs/ show must parse with today's command line: whole command lines in
/// code blocks are parsed as the shell would split them, and every <c>--flag</c> named in prose, tables and synopses must
/// be an option of the command it is written after. A renamed or removed flag fails here instead of in a user's terminal.
/// </summary>
public sealed partial class DocumentedCommandsTests
{
    private static readonly RootCommand Root = CreateRoot();

    private static RootCommand CreateRoot()
    {
        var root = new RootCommand("scheduler");
        foreach (var command in Commands.All())
        {
            root.Subcommands.Add(command);
        }
        return root;
    }

    private static IEnumerable<string> DocumentFiles()
    {
        var root = RepositoryPaths.Root;
        yield return Path.Combine(root, "README.md");
        foreach (var file in Directory.EnumerateFiles(Path.Combine(root, "docs"), "*.md").Order(StringComparer.Ordinal))
        {
            yield return file;
        }
        yield return Path.Combine(root, "src", "Scheduler", "Config", "README.md");
    }

    public static TheoryData<string> Documents() => [.. DocumentFiles().Select(f => Path.GetRelativePath(RepositoryPaths.Root, f))];

    [Theory]
    [MemberData(nameof(Documents))]
    public void Every_command_line_in_a_code_block_parses(string document)
    {
        var problems = new List<string>();
        foreach (var (line, command) in DocumentedCommands.CodeBlockCommands(File.ReadAllText(Path.Combine(RepositoryPaths.Root, document))))
        {
            var parsed = Root.Parse(command);
            // Some commands take unmatched tokens themselves (to word their own error), so those count as errors too.
            var errors = parsed.Errors.Select(e => e.Message).Concat(parsed.UnmatchedTokens.Select(t => $"unexpected argument {t}")).ToList();
            if (errors.Count > 0)
            {
                problems.Add($"{document}:{line}: scheduler {string.Join(' ', command)}: {string.Join("; ", errors)}");
            }
        }
        Assert.True(problems.Count == 0, string.Join(Environment.NewLine, problems));
    }

    [Theory]
    [MemberData(nameof(Documents))]
    public void Every_flag_named_after_a_command_is_one_of_its_options(string document)
    {
        var problems = new List<string>();
        foreach (var (line, path, flag) in DocumentedCommands.NamedFlags(File.ReadAllText(Path.Combine(RepositoryPaths.Root, document))))
        {
            var command = Resolve(path);
            if (command is null)
            {
                problems.Add($"{document}:{line}: scheduler {string.Join(' ', path)} is not a command");
                continue;
            }

            if (!HasOption(command, flag))
            {
                problems.Add($"{document}:{line}: scheduler {string.Join(' ', path)} has no option {flag}");
            }
        }
        Assert.True(problems.Count == 0, string.Join(Environment.NewLine, problems));
    }

    [Fact]
    public void The_readme_documents_commands_at_all()
    {
        // Guards the extraction itself: if it found nothing, the two tests above would pass vacuously.
        var readme = File.ReadAllText(Path.Combine(RepositoryPaths.Root, "README.md"));
        Assert.Contains(DocumentedCommands.CodeBlockCommands(readme), c => c.Command is ["exec", ..]);
        Assert.Contains(DocumentedCommands.NamedFlags(readme), f => f.Command is ["run"] && f.Flag == "--config");
    }

    [Theory]
    [InlineData("```sh\ndotnet run --project src/Scheduler -- exec --ci-file a.yml build   # comment\n```", "exec --ci-file a.yml build")]
    [InlineData("```sh\nscheduler run --config a.toml \\\n  --cluster-port 4053 &\n```", "run --config a.toml --cluster-port 4053")]
    [InlineData("```\nscheduler status --url 'http://x:1'  | jq .\n```", "status --url http://x:1")]
    [InlineData("```sh\necho scheduler run\n```", "")]
    public void Code_block_lines_are_split_as_the_shell_would(string markdown, string expected)
    {
        var commands = DocumentedCommands.CodeBlockCommands(markdown).Select(c => string.Join(' ', c.Command)).ToList();
        Assert.Equal(expected.Length == 0 ? [] : [expected], commands);
    }

    [Theory]
    [InlineData("`scheduler run --config FILE [--kubeconfig FILE]`", "run", "--config,--kubeconfig")]
    [InlineData("| `scheduler status [--config FILE \\| --url URL] [--json]` | x |", "status", "--config,--url,--json")]
    [InlineData("`scheduler helper read-log --path …/output.log --offset N [--follow]`", "helper read-log", "--path,--offset,--follow")]
    [InlineData("`--fault-exec-drop-after[-time]` of `scheduler local-cluster`", "", "")]
    [InlineData("`scheduler local-cluster [--fault-exec-drop-after[-time]]`", "local-cluster", "--fault-exec-drop-after,--fault-exec-drop-after-time")]
    public void Flags_are_read_from_inline_synopses(string markdown, string command, string flags)
    {
        var found = DocumentedCommands.NamedFlags(markdown).ToList();
        Assert.All(found, f => Assert.Equal(command, string.Join(' ', f.Command)));
        Assert.Equal(flags.Length == 0 ? [] : flags.Split(','), found.Select(f => f.Flag));
    }

    [Fact]
    public void A_flag_that_does_not_exist_is_caught()
    {
        var found = DocumentedCommands.NamedFlags("`scheduler run --no-such-flag`").Single();
        Assert.False(HasOption(Resolve(found.Command)!, found.Flag));
        Assert.NotEmpty(Root.Parse(["run", "--config", "a.toml", "--no-such-flag"]).Errors);
        var renderPod = Root.Parse(["render-pod", "--configg", "a.toml", "--job", "j.json"]);
        Assert.NotEmpty(renderPod.Errors.Select(e => e.Message).Concat(renderPod.UnmatchedTokens));
    }

    private static Command? Resolve(IReadOnlyList<string> path)
    {
        Command current = Root;
        foreach (var name in path)
        {
            var next = current.Subcommands.FirstOrDefault(c => c.Name == name || c.Aliases.Contains(name));
            if (next is null)
            {
                return null;
            }
            current = next;
        }
        return current;
    }

    private static bool HasOption(Command command, string flag)
    {
        var options = command.Options.Concat(Root.Options.Where(o => o.Recursive));
        if (flag.EndsWith('*'))
        {
            var prefix = flag.TrimEnd('*');
            return options.Any(o => o.Name.StartsWith(prefix, StringComparison.Ordinal) || o.Aliases.Any(a => a.StartsWith(prefix, StringComparison.Ordinal)));
        }
        return options.Any(o => o.Name == flag || o.Aliases.Contains(flag));
    }
}

/// <summary>Finds the <c>scheduler</c> commands written in a Markdown document.</summary>
internal static partial class DocumentedCommands
{
    private static readonly string[] Invocations = ["dotnet run --project src/Scheduler -- ", "scheduler "];

    /// <summary>Command lines in fenced code blocks, as argument lists after <c>scheduler</c>.</summary>
    public static IEnumerable<(int Line, IReadOnlyList<string> Command)> CodeBlockCommands(string markdown)
    {
        var lines = markdown.Split('\n');
        var inBlock = false;
        for (var i = 0; i < lines.Length; i++)
        {
            var text = lines[i].TrimEnd('\r');
            if (text.TrimStart().StartsWith("```", StringComparison.Ordinal))
            {
                inBlock = !inBlock;
                continue;
            }
            if (!inBlock)
            {
                continue;
            }

            var start = i;
            while (text.EndsWith('\\') && i + 1 < lines.Length)
            {
                text = text[..^1] + " " + lines[++i].TrimEnd('\r').Trim();
            }

            var trimmed = text.Trim();
            if (trimmed.StartsWith("$ ", StringComparison.Ordinal))
            {
                trimmed = trimmed[2..];
            }
            var invocation = Invocations.FirstOrDefault(p => trimmed.StartsWith(p, StringComparison.Ordinal));
            if (invocation is null)
            {
                continue;
            }

            var words = ShellWords(trimmed[invocation.Length..]);
            // Synopses with placeholders (…, FILE, [--x]) are checked flag by flag instead.
            if (words.Count > 0 && !words.Any(w => w.Contains('…') || w.StartsWith('[') || w.StartsWith('<')))
            {
                yield return (start + 1, words);
            }
        }
    }

    /// <summary>Every <c>--flag</c> written after <c>scheduler &lt;command&gt;</c> in a backtick span or a code line.</summary>
    public static IEnumerable<(int Line, IReadOnlyList<string> Command, string Flag)> NamedFlags(string markdown)
    {
        var lines = markdown.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            foreach (Match span in CodeSpan().Matches(line))
            {
                foreach (var found in FlagsOf(span.Groups[1].Value))
                {
                    yield return (i + 1, found.Command, found.Flag);
                }
            }
            if (!line.Contains('`') && Invocations.Any(p => line.TrimStart().StartsWith(p, StringComparison.Ordinal)))
            {
                foreach (var found in FlagsOf(line.Trim()))
                {
                    yield return (i + 1, found.Command, found.Flag);
                }
            }
        }
    }

    private static IEnumerable<(IReadOnlyList<string> Command, string Flag)> FlagsOf(string text)
    {
        var invocation = Invocations.FirstOrDefault(p => text.StartsWith(p, StringComparison.Ordinal));
        if (invocation is null)
        {
            yield break;
        }

        var words = text[invocation.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var command = words.TakeWhile(w => CommandWord().IsMatch(w)).Take(2).ToList();
        // `scheduler helper read-log`: the second word is a subcommand only under commands that have them.
        if (command.Count == 2 && command[0] != "helper")
        {
            command.RemoveAt(1);
        }
        if (command.Count == 0)
        {
            yield break;
        }

        foreach (var word in words.Skip(command.Count))
        {
            if (word.StartsWith('#'))
            {
                yield break;
            }
            foreach (Match flag in Flag().Matches(word))
            {
                var name = flag.Groups["name"].Value;
                yield return (command, name);
                if (flag.Groups["suffix"].Success)
                {
                    yield return (command, name + flag.Groups["suffix"].Value);
                }
            }
        }
    }

    /// <summary>Splits a shell line into words: quotes group, a comment, pipe, redirection or <c>&amp;</c> ends it.</summary>
    private static List<string> ShellWords(string line)
    {
        var words = new List<string>();
        var current = new System.Text.StringBuilder();
        var inWord = false;
        char? quote = null;
        foreach (var c in line)
        {
            if (quote is { } q)
            {
                if (c == q) quote = null;
                else current.Append(c);
                continue;
            }
            if (c is '\'' or '"')
            {
                quote = c;
                inWord = true;
                continue;
            }
            if (char.IsWhiteSpace(c))
            {
                if (inWord) words.Add(current.ToString());
                current.Clear();
                inWord = false;
                continue;
            }
            if (!inWord && c is '#' or '|' or '>' or '&' or ';')
            {
                break;
            }
            current.Append(c);
            inWord = true;
        }
        if (inWord) words.Add(current.ToString());
        return words;
    }

    [GeneratedRegex("`([^`]+)`")]
    private static partial Regex CodeSpan();

    [GeneratedRegex("^[a-z][a-z-]*$")]
    private static partial Regex CommandWord();

    [GeneratedRegex(@"(?<name>--[a-z][a-z0-9-]*\*?)(\[(?<suffix>-[a-z0-9-]+)\])?")]
    private static partial Regex Flag();
}
