module example.com/signing

go 1.19
