namespace Scheduler.Scheduler.Tests;

/// <summary>Locates files of the repository from the test's output directory.</summary>
internal static class RepositoryPaths
{
    /// <summary>The folder that contains Scheduler.sln, found by walking up from the test binaries.</summary>
    public static string Root
    {
        get
        {
            for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
            {
                if (File.Exists(Path.Combine(directory.FullName, "Scheduler.sln")))
                {
                    return directory.FullName;
                }
            }

            throw new InvalidOperationException("Scheduler.sln not found above " + AppContext.BaseDirectory);
        }
    }

    public static string Example(string fileName) => Path.Combine(Root, "examples", fileName);
}

/// <summary>A temporary directory removed when the test ends.</summary>
internal sealed class TemporaryDirectory : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("scheduler-tests-").FullName;

    public string Write(string relativePath, string content)
    {
        var full = System.IO.Path.Combine(Path, relativePath);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        File.WriteAllText(full, content);
        return full;
    }

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
