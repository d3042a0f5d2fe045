module example.com/textclean

go 1.19
