using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Scheduler.Exec;

/// <summary>The errors and warnings found while reading one .gitlab-ci.yml, each with file, line, column and key.</summary>
internal sealed class CiDiagnosticList(string file)
{
    public List<CiDiagnostic> Errors { get; } = [];
    private readonly List<CiDiagnostic> _warnings = [];

    public void Error(YamlNode node, string key, string message) => Error(node.Start, key, message);

    public void Error(Mark mark, string key, string message) =>
        Errors.Add(new CiDiagnostic(file, (int)Math.Max(1, mark.Line), (int)Math.Max(1, mark.Column), key, message));

    public void Warning(YamlNode node, string key, string message) =>
        _warnings.Add(new CiDiagnostic(file, (int)Math.Max(1, node.Start.Line), (int)Math.Max(1, node.Start.Column), key, message));

    public CiFileParseResult Result(CiFile? ciFile) =>
        new(Errors.Count == 0 ? ciFile : null, [.. Errors.OrderBy(e => e.Line).ThenBy(e => e.Column)], _warnings);
}
