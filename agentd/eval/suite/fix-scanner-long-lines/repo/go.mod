module example.com/logimport

go 1.19
