namespace Scheduler.Messages.Tests;

internal static class RepositoryPaths
{
    /// <summary>The checkout's root (where Scheduler.sln is), for the examples the tests read.</summary>
    public static string Root()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Scheduler.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("Scheduler.sln not found above " + AppContext.BaseDirectory);
    }
}
