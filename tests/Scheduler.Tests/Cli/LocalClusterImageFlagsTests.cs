using System.CommandLine;
using Scheduler.Cli;

namespace Scheduler.Scheduler.Tests.Cli;

/// <summary><c>local-cluster --load-image</c> and <c>--host-images</c>: a bad image stops the command before any cluster starts.</summary>
public sealed class LocalClusterImageFlagsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("local-cluster-image-flags-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int ExitCode, string Error) Invoke(params string[] args)
    {
        var error = new StringWriter();
        var exitCode = LocalClusterCommand.Create().Parse(args).Invoke(new InvocationConfiguration { Output = new StringWriter(), Error = error });
        return (exitCode, error.ToString());
    }

    [Fact]
    public void A_missing_archive_exits_2_naming_the_flag_and_the_file()
    {
        var missing = Path.Combine(_dir, "nothing.tar");

        var (exitCode, error) = Invoke("--state-dir", Path.Combine(_dir, "state"), "--load-image", missing);

        Assert.Equal(2, exitCode);
        Assert.Contains($"--load-image {missing}: ", error);
    }

    [Fact]
    public void A_file_that_is_not_an_image_archive_is_refused()
    {
        var junk = Path.Combine(_dir, "junk.tar");
        File.WriteAllText(junk, "not a tar archive at all, just text that goes on for a while to fill a header block");

        var (exitCode, error) = Invoke("--state-dir", Path.Combine(_dir, "state"), "--load-image", junk);

        Assert.Equal(2, exitCode);
        Assert.Contains("--load-image", error);
    }

    [Fact]
    public void Loading_an_image_with_host_images_on_is_refused()
    {
        var (exitCode, error) = Invoke("--state-dir", Path.Combine(_dir, "state"), "--host-images", "--load-image", "x.tar");

        Assert.Equal(2, exitCode);
        Assert.Contains("images are not used with --host-images", error);
    }

    [Fact]
    public void Name_equals_file_names_the_image_only_when_the_file_exists()
    {
        var archive = Path.Combine(_dir, "app.tar");
        File.WriteAllText(archive, "");

        Assert.Equal(("registry.example/app:1", archive), LocalClusterCommand.SplitLoadImage($"registry.example/app:1={archive}"));
        Assert.Equal((null, archive), LocalClusterCommand.SplitLoadImage(archive));
        Assert.Equal((null, "a=b.tar"), LocalClusterCommand.SplitLoadImage("a=b.tar"));
    }
}
