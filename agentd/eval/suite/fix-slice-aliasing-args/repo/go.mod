module example.com/cmdline

go 1.19
