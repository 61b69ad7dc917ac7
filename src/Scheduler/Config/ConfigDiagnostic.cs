using Scheduler.Messages.Settings;

namespace Scheduler.Config;

public enum DiagnosticSeverity
{
    Error,
    Warning,
}

/// <summary>
/// One finding about a config file. <see cref="Line"/> and <see cref="Column"/> are 1-based; 0 means the finding has
/// no position in the file (it comes from the environment or concerns the whole file).
/// </summary>
public sealed record ConfigDiagnostic(string File, int Line, int Column, string Key, string Message, DiagnosticSeverity Severity)
{
    /// <summary>Compiler style: <c>config.toml:12:3: error: runners[0].kubernetes.cpu_limit: invalid quantity "100j" ...</c>.</summary>
    public override string ToString()
    {
        var location = Line > 0 ? $"{File}:{Line}:{Column}" : File;
        var severity = Severity == DiagnosticSeverity.Error ? "error" : "warning";
        return Key.Length > 0 ? $"{location}: {severity}: {Key}: {Message}" : $"{location}: {severity}: {Message}";
    }
}

/// <summary>The loaded settings (null when the file could not be read or parsed) with every error and warning found.</summary>
public sealed record ConfigLoadResult(GlobalSettings? Settings, IReadOnlyList<ConfigDiagnostic> Errors, IReadOnlyList<ConfigDiagnostic> Warnings)
{
    public bool IsValid => Errors.Count == 0 && Settings is not null;
}

/// <summary>A 1-based position in the config file.</summary>
internal readonly record struct SourcePosition(int Line, int Column)
{
    public static readonly SourcePosition None = new(0, 0);
}

/// <summary>Collects diagnostics for one file while it is read.</summary>
internal sealed class DiagnosticCollector(string fileName)
{
    /// <summary>The pseudo file named by diagnostics about environment overrides.</summary>
    public const string EnvironmentSource = "environment";

    private readonly List<ConfigDiagnostic> _errors = [];
    private readonly List<ConfigDiagnostic> _warnings = [];

    public string FileName { get; } = fileName;
    public IReadOnlyList<ConfigDiagnostic> Errors => _errors;
    public IReadOnlyList<ConfigDiagnostic> Warnings => _warnings;

    public void Error(SourcePosition position, string key, string message) =>
        _errors.Add(new ConfigDiagnostic(FileName, position.Line, position.Column, key, message, DiagnosticSeverity.Error));

    public void Warning(SourcePosition position, string key, string message) =>
        _warnings.Add(new ConfigDiagnostic(FileName, position.Line, position.Column, key, message, DiagnosticSeverity.Warning));

    /// <summary>A finding about a value that came from an environment variable rather than the file.</summary>
    public void EnvironmentError(string key, string message) =>
        _errors.Add(new ConfigDiagnostic(EnvironmentSource, 0, 0, key, message, DiagnosticSeverity.Error));

    public void EnvironmentWarning(string key, string message) =>
        _warnings.Add(new ConfigDiagnostic(EnvironmentSource, 0, 0, key, message, DiagnosticSeverity.Warning));
}
